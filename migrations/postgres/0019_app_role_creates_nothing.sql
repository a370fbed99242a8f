-- The application role creates nothing: not a temporary table, not an object in the public
-- schema. PostgreSQL grants every role TEMPORARY on a new database, and looks a relation whose
-- schema is not named up in the session's temporary schema first: a temporary `documents` left
-- on a pooled connection by an injected statement would stand in for the real one in the next
-- request's queries on that connection (no policy applies to a temporary table: it is its
-- maker's own). Concordat uses no temporary tables. The functions the policies call no longer
-- read anything through the search path (0018), so this is a second layer, not the wall.
--
-- Revoked from PUBLIC, which is where the default grant lives; the database's owner keeps its
-- own rights. A deployment whose migrations do not run as the database's owner (or a
-- superuser) gets a warning from PostgreSQL here ("no privileges could be revoked"), not an
-- error, and keeps the default.
do $$
begin
    execute format('revoke temporary on database %I from public', current_database());
end
$$;

-- Nor anything in the public schema: PostgreSQL before 15 let every role create objects there,
-- and a function there named like a built-in but taking a closer argument type is chosen over
-- the built-in wherever public is on the search path (CVE-2018-1058). PostgreSQL 15 no longer
-- grants this; on an older server whose public schema the owner does not own, PostgreSQL warns
-- here instead of revoking, and the operator revokes it as the schema's owner.
revoke create on schema public from public;
