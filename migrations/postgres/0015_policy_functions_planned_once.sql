-- The functions every row-level-security policy calls, rewritten in PL/pgSQL: same names,
-- arguments, results and attributes (stable, security definer where they were, the same
-- search_path), so every policy and grant stays as it is.
--
-- Why: a SQL-language function with a SET clause is never inlined, and PostgreSQL plans its
-- body afresh at every call. The policies call concordat_is_system() and the context functions
-- once per statement per policy, so a live connection's set-up (a dozen policy evaluations)
-- spent most of its database time planning `pg_has_role(...)` and the context lookups again
-- and again (pg_stat_statements: ~60-75 us of planning per call against ~10 us to execute).
-- PL/pgSQL keeps each statement's plan for the life of the database connection.
--
-- concordat_begin also records the caller with one upsert instead of a delete and an insert:
-- each connection keeps one row, updated in place.

create or replace function concordat_is_system() returns boolean language plpgsql stable
    set search_path = pg_catalog, public
as $$
begin
    return pg_has_role(current_user, 'concordat_system', 'usage')
        or current_user = (select pg_get_userbyid(relowner) from pg_class
                           where oid = 'public.documents'::regclass);
end
$$;

create or replace function concordat_user() returns uuid language plpgsql stable security definer
    set search_path = pg_catalog, public
as $$
begin
    return (select user_id from concordat_context
            where pid = pg_backend_pid() and xact_start = transaction_timestamp());
end
$$;

create or replace function concordat_org() returns uuid language plpgsql stable security definer
    set search_path = pg_catalog, public
as $$
begin
    return (select org_id from concordat_context
            where pid = pg_backend_pid() and xact_start = transaction_timestamp());
end
$$;

create or replace function concordat_is_guest() returns boolean language plpgsql stable security definer
    set search_path = pg_catalog, public
as $$
begin
    return coalesce((select is_guest from concordat_context
                     where pid = pg_backend_pid() and xact_start = transaction_timestamp()), true);
end
$$;

create or replace function concordat_space_partnerships() returns uuid[] language plpgsql stable security definer
    set search_path = pg_catalog, public
as $$
begin
    return coalesce((select space_partnerships from concordat_context
                     where pid = pg_backend_pid() and xact_start = transaction_timestamp()), '{}');
end
$$;

create or replace function concordat_granted_spaces() returns uuid[] language plpgsql stable security definer
    set search_path = pg_catalog, public
as $$
begin
    return coalesce((select granted_spaces from concordat_context
                     where pid = pg_backend_pid() and xact_start = transaction_timestamp()), '{}');
end
$$;

create or replace function concordat_begin(p_session uuid) returns boolean language plpgsql volatile security definer
    set search_path = pg_catalog, public
as $$
declare
    now_ms bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
    u record;
begin
    select users.id, users.org_id, users.is_guest into u
        from sessions join users on users.id = sessions.user_id
        where sessions.id = p_session and sessions.revoked_at is null
          and sessions.expires_at > now_ms and not users.disabled;
    if not found then
        delete from concordat_context where pid = pg_backend_pid();
        return false;
    end if;
    insert into concordat_context values (
        pg_backend_pid(), transaction_timestamp(), u.id, u.org_id, u.is_guest,
        case when u.is_guest then '{}'::uuid[] else coalesce((
            select array_agg(partnership_id) from partnership_members
            where org_id = u.org_id and role in ('host', 'member') and left_at is null), '{}') end,
        coalesce((select array_agg(distinct space_id) from grants
            where user_id = u.id and revoked_at is null
              and (expires_at is null or expires_at > now_ms)), '{}'))
    on conflict (pid) do update set
        xact_start = excluded.xact_start, user_id = excluded.user_id, org_id = excluded.org_id,
        is_guest = excluded.is_guest, space_partnerships = excluded.space_partnerships,
        granted_spaces = excluded.granted_spaces;
    return true;
end
$$;
