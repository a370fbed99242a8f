-- The tenant wall, part two: verified e-mail domains, and a tenant context the application
-- role cannot forge.
--
-- Until now the caller was carried in settings (set_config('concordat.org_id', …)), which any
-- role may set: one injected predicate could name another council, or 'concordat.system', and
-- read everything. Now:
--
-- * System operations (login, refresh, invitation acceptance, provisioning, the sync runtime,
--   audit names) run on their own connections, as a member of the concordat_system role (or as
--   the tables' owner). concordat_is_system() asks the catalogue who the current role is; no
--   setting can make it true.
-- * A user's transaction starts with concordat_begin(session_id), a SECURITY DEFINER function
--   owned by the tables' owner. It looks the session up (live, not revoked, account enabled),
--   derives the user, council, guest flag, reachable partnerships and granted spaces itself,
--   and records them in concordat_context, keyed by this backend and this transaction's start.
--   The application role has no privilege on that table; the policy functions (also definers)
--   read it. A session id is a 128-bit secret only its own user's rows reveal, so naming
--   another session is not a way in; a context from an earlier transaction on a pooled
--   connection does not match the current transaction and gives nothing.
-- * Policies call the context functions through scalar subqueries, so each is evaluated once
--   per statement rather than once per row.

-- Verified e-mail domains: a domain belongs to one organisation at most.
create table organisation_domains (
    domain  text primary key,
    org_id  uuid not null references organisations (id)
);
create index organisation_domains_org on organisation_domains (org_id);

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'concordat_system') then
        create role concordat_system nologin;
    end if;
end
$$;

create unlogged table concordat_context (
    pid                 integer primary key,
    xact_start          timestamptz not null,
    user_id             uuid not null,
    org_id              uuid not null,
    is_guest            boolean not null,
    space_partnerships  uuid[] not null,
    granted_spaces      uuid[] not null
);
revoke all on concordat_context from public;

-- System: a member of concordat_system, or the tables' owner (migrations, and the definer
-- functions below, which run as the owner).
create or replace function concordat_is_system() returns boolean language sql stable
    set search_path = pg_catalog, public
    as $$ select pg_has_role(current_user, 'concordat_system', 'usage')
              or current_user = (select pg_get_userbyid(relowner) from pg_class
                                 where oid = 'public.documents'::regclass) $$;

create or replace function concordat_user() returns uuid language sql stable security definer
    set search_path = pg_catalog, public
    as $$ select user_id from concordat_context
          where pid = pg_backend_pid() and xact_start = transaction_timestamp() $$;
create or replace function concordat_org() returns uuid language sql stable security definer
    set search_path = pg_catalog, public
    as $$ select org_id from concordat_context
          where pid = pg_backend_pid() and xact_start = transaction_timestamp() $$;
create or replace function concordat_is_guest() returns boolean language sql stable security definer
    set search_path = pg_catalog, public
    as $$ select coalesce((select is_guest from concordat_context
          where pid = pg_backend_pid() and xact_start = transaction_timestamp()), true) $$;
create or replace function concordat_space_partnerships() returns uuid[] language sql stable security definer
    set search_path = pg_catalog, public
    as $$ select coalesce((select space_partnerships from concordat_context
          where pid = pg_backend_pid() and xact_start = transaction_timestamp()), '{}') $$;
create or replace function concordat_granted_spaces() returns uuid[] language sql stable security definer
    set search_path = pg_catalog, public
    as $$ select coalesce((select granted_spaces from concordat_context
          where pid = pg_backend_pid() and xact_start = transaction_timestamp()), '{}') $$;

-- Starts a user's transaction: the only way a caller is set.
create function concordat_begin(p_session uuid) returns boolean language plpgsql volatile security definer
    set search_path = pg_catalog, public
as $$
declare
    now_ms bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
    u record;
begin
    delete from concordat_context where pid = pg_backend_pid();
    select users.id, users.org_id, users.is_guest into u
        from sessions join users on users.id = sessions.user_id
        where sessions.id = p_session and sessions.revoked_at is null
          and sessions.expires_at > now_ms and not users.disabled;
    if not found then
        return false;
    end if;
    insert into concordat_context values (
        pg_backend_pid(), transaction_timestamp(), u.id, u.org_id, u.is_guest,
        case when u.is_guest then '{}'::uuid[] else coalesce((
            select array_agg(partnership_id) from partnership_members
            where org_id = u.org_id and role in ('host', 'member') and left_at is null), '{}') end,
        coalesce((select array_agg(distinct space_id) from grants
            where user_id = u.id and revoked_at is null
              and (expires_at is null or expires_at > now_ms)), '{}'));
    return true;
end
$$;
revoke all on function concordat_begin(uuid) from public;
grant execute on function concordat_begin(uuid) to concordat_app;

-- Every policy again, with the context read once per statement. Guests never see other
-- users' rows or invitations.
drop policy organisations_read on organisations;
drop policy organisations_write on organisations;
create policy organisations_read on organisations for select
    using ((select concordat_is_system()) or (select concordat_user()) is not null);
create policy organisations_write on organisations for all
    using ((select concordat_is_system())) with check ((select concordat_is_system()));

alter table organisation_domains enable row level security;
alter table organisation_domains force row level security;
create policy organisation_domains_read on organisation_domains for select
    using ((select concordat_is_system()) or (select concordat_user()) is not null);
create policy organisation_domains_write on organisation_domains for all
    using ((select concordat_is_system())) with check ((select concordat_is_system()));

drop policy users_access on users;
create policy users_read on users for select
    using ((select concordat_is_system()) or id = (select concordat_user())
           or (not (select concordat_is_guest()) and not is_guest
               and org_id = (select concordat_org())));
create policy users_insert on users for insert
    with check ((select concordat_is_system())
           or (not (select concordat_is_guest()) and not is_guest
               and org_id = (select concordat_org())));
create policy users_update on users for update
    using ((select concordat_is_system()) or id = (select concordat_user()))
    with check ((select concordat_is_system()) or id = (select concordat_user()));
create policy users_delete on users for delete
    using ((select concordat_is_system()));

drop policy sessions_access on sessions;
create policy sessions_access on sessions for all
    using ((select concordat_is_system()) or user_id = (select concordat_user()))
    with check ((select concordat_is_system()) or user_id = (select concordat_user()));

drop policy partnership_members_read on partnership_members;
drop policy partnership_members_write on partnership_members;
create policy partnership_members_read on partnership_members for select
    using ((select concordat_is_system()) or org_id = (select concordat_org())
           or partnership_id = any ((select concordat_space_partnerships())::uuid[]));
create policy partnership_members_write on partnership_members for all
    using ((select concordat_is_system())
           or partnership_id = any ((select concordat_space_partnerships())::uuid[]))
    with check ((select concordat_is_system())
           or partnership_id = any ((select concordat_space_partnerships())::uuid[]));

drop policy partnerships_read on partnerships;
drop policy partnerships_write on partnerships;
create policy partnerships_read on partnerships for select
    using ((select concordat_is_system())
           or id in (select partnership_id from partnership_members
                     where org_id = (select concordat_org())));
create policy partnerships_write on partnerships for all
    using ((select concordat_is_system()) or id = any ((select concordat_space_partnerships())::uuid[]))
    with check ((select concordat_is_system())
           or id = any ((select concordat_space_partnerships())::uuid[]));

drop policy spaces_read on spaces;
drop policy spaces_write on spaces;
create policy spaces_read on spaces for select
    using ((select concordat_is_system())
           or (not (select concordat_is_guest()) and org_id = (select concordat_org()))
           or partnership_id = any ((select concordat_space_partnerships())::uuid[])
           or id = any ((select concordat_granted_spaces())::uuid[]));
create policy spaces_write on spaces for all
    using ((select concordat_is_system())) with check ((select concordat_is_system()));

drop policy documents_access on documents;
create policy documents_access on documents for all
    using ((select concordat_is_system())
           or space_id in (select id from spaces
                           where (not (select concordat_is_guest())
                                  and org_id = (select concordat_org()))
                              or partnership_id = any ((select concordat_space_partnerships())::uuid[]))
           or id in (select document_id from grants
                     where user_id = (select concordat_user()) and revoked_at is null
                       and (expires_at is null or expires_at > concordat_now_ms())))
    with check ((select concordat_is_system())
           or space_id in (select id from spaces
                           where (not (select concordat_is_guest())
                                  and org_id = (select concordat_org()))
                              or partnership_id = any ((select concordat_space_partnerships())::uuid[])));

drop policy doc_chunks_access on doc_chunks;
create policy doc_chunks_access on doc_chunks for all
    using ((select concordat_is_system()) or document_id in (select id from documents))
    with check ((select concordat_is_system()) or document_id in (select id from documents));

drop policy grants_access on grants;
create policy grants_access on grants for all
    using ((select concordat_is_system()) or user_id = (select concordat_user())
           or space_id in (select id from spaces
                           where (not (select concordat_is_guest())
                                  and org_id = (select concordat_org()))
                              or partnership_id = any ((select concordat_space_partnerships())::uuid[])))
    with check ((select concordat_is_system())
           or space_id in (select id from spaces
                           where (not (select concordat_is_guest())
                                  and org_id = (select concordat_org()))
                              or partnership_id = any ((select concordat_space_partnerships())::uuid[])));

drop policy invitations_access on invitations;
create policy invitations_access on invitations for all
    using ((select concordat_is_system())
           or (not (select concordat_is_guest()) and org_id = (select concordat_org())))
    with check ((select concordat_is_system())
           or (not (select concordat_is_guest()) and org_id = (select concordat_org())));

drop policy invitation_documents_access on invitation_documents;
create policy invitation_documents_access on invitation_documents for all
    using ((select concordat_is_system()) or invitation_id in (select id from invitations))
    with check ((select concordat_is_system()) or invitation_id in (select id from invitations));

drop policy doc_actors_access on doc_actors;
create policy doc_actors_access on doc_actors for all
    using ((select concordat_is_system()) or document_id in (select id from documents))
    with check ((select concordat_is_system()) or document_id in (select id from documents));

drop policy doc_versions_access on doc_versions;
create policy doc_versions_access on doc_versions for all
    using ((select concordat_is_system()) or document_id in (select id from documents))
    with check ((select concordat_is_system()) or document_id in (select id from documents));

grant select on organisation_domains to concordat_app;
grant usage on schema public to concordat_system;
grant select, insert, update, delete on
    organisations, organisation_domains, users, sessions, partnerships, partnership_members,
    spaces, documents, doc_chunks, grants, invitations, invitation_documents, doc_actors
    to concordat_system;
grant select, insert on doc_versions to concordat_system;
grant execute on function
    concordat_user(), concordat_org(), concordat_is_guest(), concordat_is_system(),
    concordat_space_partnerships(), concordat_granted_spaces(), concordat_now_ms()
    to concordat_system;
