-- Row-level security: the second wall between tenants.
--
-- The application connects as a role that owns no table and lacks BYPASSRLS (a member of
-- concordat_app), and sets its caller inside each transaction with set_config(..., true):
--   concordat.user_id, concordat.org_id, concordat.is_guest   the authenticated caller
--   concordat.space_partnerships   partnerships whose shared space the caller's council reaches
--   concordat.granted_spaces       spaces holding a document granted to the caller
--   concordat.system               set (to a reason) only for named system operations:
--                                  login, invitation acceptance, provisioning
-- With nothing set, every policy is false: no rows. No SECURITY DEFINER anywhere.

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'concordat_app') then
        create role concordat_app nologin;
    end if;
end
$$;

create function concordat_user() returns uuid language sql stable
    as $$ select nullif(current_setting('concordat.user_id', true), '')::uuid $$;
create function concordat_org() returns uuid language sql stable
    as $$ select nullif(current_setting('concordat.org_id', true), '')::uuid $$;
create function concordat_is_guest() returns boolean language sql stable
    as $$ select coalesce(nullif(current_setting('concordat.is_guest', true), '')::boolean, true) $$;
create function concordat_is_system() returns boolean language sql stable
    as $$ select coalesce(current_setting('concordat.system', true), '') <> '' $$;
create function concordat_space_partnerships() returns uuid[] language sql stable
    as $$ select string_to_array(nullif(current_setting('concordat.space_partnerships', true), ''), ',')::uuid[] $$;
create function concordat_granted_spaces() returns uuid[] language sql stable
    as $$ select string_to_array(nullif(current_setting('concordat.granted_spaces', true), ''), ',')::uuid[] $$;
create function concordat_now_ms() returns bigint language sql stable
    as $$ select (extract(epoch from clock_timestamp()) * 1000)::bigint $$;

-- Organisation names are public (councils and registered partner bodies); any authenticated
-- caller may read them, so a partnership admin can pick one. Only the system creates them.
alter table organisations enable row level security;
alter table organisations force row level security;
create policy organisations_read on organisations for select
    using (concordat_is_system() or concordat_user() is not null);
create policy organisations_write on organisations for all
    using (concordat_is_system()) with check (concordat_is_system());

alter table users enable row level security;
alter table users force row level security;
create policy users_access on users for all
    using (concordat_is_system() or id = concordat_user() or org_id = concordat_org())
    with check (concordat_is_system() or org_id = concordat_org());

alter table sessions enable row level security;
alter table sessions force row level security;
create policy sessions_access on sessions for all
    using (concordat_is_system() or user_id = concordat_user())
    with check (concordat_is_system() or user_id = concordat_user());

alter table partnership_members enable row level security;
alter table partnership_members force row level security;
create policy partnership_members_read on partnership_members for select
    using (concordat_is_system() or org_id = concordat_org()
           or partnership_id = any (concordat_space_partnerships()));
create policy partnership_members_write on partnership_members for all
    using (concordat_is_system() or partnership_id = any (concordat_space_partnerships()))
    with check (concordat_is_system() or partnership_id = any (concordat_space_partnerships()));

alter table partnerships enable row level security;
alter table partnerships force row level security;
create policy partnerships_read on partnerships for select
    using (concordat_is_system()
           or id in (select partnership_id from partnership_members where org_id = concordat_org()));
create policy partnerships_write on partnerships for all
    using (concordat_is_system() or id = any (concordat_space_partnerships()))
    with check (concordat_is_system() or id = any (concordat_space_partnerships()));

alter table spaces enable row level security;
alter table spaces force row level security;
create policy spaces_read on spaces for select
    using (concordat_is_system()
           or (not concordat_is_guest() and org_id = concordat_org())
           or partnership_id = any (concordat_space_partnerships())
           or id = any (concordat_granted_spaces()));
create policy spaces_write on spaces for all
    using (concordat_is_system()) with check (concordat_is_system());

alter table documents enable row level security;
alter table documents force row level security;
create policy documents_access on documents for all
    using (concordat_is_system()
           or space_id in (select id from spaces
                           where (not concordat_is_guest() and org_id = concordat_org())
                              or partnership_id = any (concordat_space_partnerships()))
           or id in (select document_id from grants
                     where user_id = concordat_user() and revoked_at is null
                       and (expires_at is null or expires_at > concordat_now_ms())))
    with check (concordat_is_system()
           or space_id in (select id from spaces
                           where (not concordat_is_guest() and org_id = concordat_org())
                              or partnership_id = any (concordat_space_partnerships())));

alter table doc_chunks enable row level security;
alter table doc_chunks force row level security;
create policy doc_chunks_access on doc_chunks for all
    using (concordat_is_system() or document_id in (select id from documents))
    with check (concordat_is_system() or document_id in (select id from documents));

-- A grant is seen by its holder and by whoever reaches the document's space.
alter table grants enable row level security;
alter table grants force row level security;
create policy grants_access on grants for all
    using (concordat_is_system() or user_id = concordat_user()
           or space_id in (select id from spaces
                           where (not concordat_is_guest() and org_id = concordat_org())
                              or partnership_id = any (concordat_space_partnerships())))
    with check (concordat_is_system()
           or space_id in (select id from spaces
                           where (not concordat_is_guest() and org_id = concordat_org())
                              or partnership_id = any (concordat_space_partnerships())));

alter table invitations enable row level security;
alter table invitations force row level security;
create policy invitations_access on invitations for all
    using (concordat_is_system() or org_id = concordat_org())
    with check (concordat_is_system() or org_id = concordat_org());

alter table invitation_documents enable row level security;
alter table invitation_documents force row level security;
create policy invitation_documents_access on invitation_documents for all
    using (concordat_is_system() or invitation_id in (select id from invitations))
    with check (concordat_is_system() or invitation_id in (select id from invitations));

grant usage on schema public to concordat_app;
grant select, insert, update, delete on
    organisations, users, sessions, partnerships, partnership_members, spaces, documents,
    doc_chunks, grants, invitations, invitation_documents
    to concordat_app;
grant execute on function
    concordat_user(), concordat_org(), concordat_is_guest(), concordat_is_system(),
    concordat_space_partnerships(), concordat_granted_spaces(), concordat_now_ms()
    to concordat_app;
