-- The functions every row-level-security policy calls, without a SET clause: same names,
-- arguments, results, volatility and rights (security definer where they were), so every policy
-- and grant stays as it is.
--
-- A hole this closes: the search path they pinned, `pg_catalog, public`, did not name pg_temp,
-- and PostgreSQL then looks a relation up in the session's temporary schema *first*. The
-- application role may create temporary tables, so inside its own transaction it could create a
-- temporary concordat_context, grant it to everyone, write another council as its own, and the
-- definer functions (running as the owner) read that instead: every policy then answered for the
-- council it named (and temporary sessions and users, read by concordat_begin, made up a session
-- for anyone). Now every name is written with its schema: relations as public.*, functions
-- and types as pg_catalog.*, comparisons as OPERATOR(pg_catalog.=) (temporary schemas are
-- searched for relations and types, never for functions or operators), so nothing is looked up
-- through the caller's search path at all.
-- concordat_begin, which runs once per transaction and names many relations, keeps a pinned
-- search path, now with pg_temp last; so do the other functions that pin one (they run with
-- their caller's rights, so a shadow there fools only its maker, but a temporary table lives as
-- long as its pooled connection, and the next caller's call must not read it). The PostgreSQL
-- suite makes the attack, with the default search path and with pg_temp first.
--
-- Why no SET clause on the accessors rather than one naming pg_temp last: a function with a SET
-- clause goes through fmgr_security_definer on every call (a GUC nesting level, the search path
-- parsed, assigned and undone), and the policies call these once per statement per policy, ~20
-- times for one access decision. In pgbench that decision cost ~14 % less PostgreSQL CPU without
-- the clauses (alternated runs); in the 10 000-connection idle scenario the difference was inside
-- the host's spread.

create or replace function concordat_is_system() returns boolean language plpgsql stable
as $$
begin
    return pg_catalog.pg_has_role(current_user, 'concordat_system', 'usage')
        or current_user operator(pg_catalog.=) (
            select pg_catalog.pg_get_userbyid(c.relowner) from pg_catalog.pg_class c
            where c.oid operator(pg_catalog.=) 'public.documents'::pg_catalog.regclass);
end
$$;
alter function concordat_is_system() reset all;

create or replace function concordat_user() returns uuid language plpgsql stable security definer
as $$
begin
    return (select c.user_id from public.concordat_context c
            where c.pid operator(pg_catalog.=) pg_catalog.pg_backend_pid()
              and c.xact_start operator(pg_catalog.=) pg_catalog.transaction_timestamp());
end
$$;
alter function concordat_user() reset all;

create or replace function concordat_org() returns uuid language plpgsql stable security definer
as $$
begin
    return (select c.org_id from public.concordat_context c
            where c.pid operator(pg_catalog.=) pg_catalog.pg_backend_pid()
              and c.xact_start operator(pg_catalog.=) pg_catalog.transaction_timestamp());
end
$$;
alter function concordat_org() reset all;

create or replace function concordat_is_guest() returns boolean language plpgsql stable security definer
as $$
begin
    return coalesce((select c.is_guest from public.concordat_context c
                     where c.pid operator(pg_catalog.=) pg_catalog.pg_backend_pid()
                       and c.xact_start operator(pg_catalog.=) pg_catalog.transaction_timestamp()),
                    true);
end
$$;
alter function concordat_is_guest() reset all;

create or replace function concordat_space_partnerships() returns uuid[] language plpgsql stable security definer
as $$
begin
    return coalesce((select c.space_partnerships from public.concordat_context c
                     where c.pid operator(pg_catalog.=) pg_catalog.pg_backend_pid()
                       and c.xact_start operator(pg_catalog.=) pg_catalog.transaction_timestamp()),
                    '{}'::pg_catalog.uuid[]);
end
$$;
alter function concordat_space_partnerships() reset all;

create or replace function concordat_granted_spaces() returns uuid[] language plpgsql stable security definer
as $$
begin
    return coalesce((select c.granted_spaces from public.concordat_context c
                     where c.pid operator(pg_catalog.=) pg_catalog.pg_backend_pid()
                       and c.xact_start operator(pg_catalog.=) pg_catalog.transaction_timestamp()),
                    '{}'::pg_catalog.uuid[]);
end
$$;
alter function concordat_granted_spaces() reset all;

alter function concordat_begin(uuid) set search_path = pg_catalog, public, pg_temp;
alter function concordat_document_access(uuid, boolean, uuid, bigint, text, uuid)
    set search_path = pg_catalog, public, pg_temp;
alter function concordat_append(integer, text[], text, text, text[], bytea[], text[], bigint)
    set search_path = pg_catalog, public, pg_temp;
alter function concordat_operator_guard() set search_path = pg_catalog, public, pg_temp;
