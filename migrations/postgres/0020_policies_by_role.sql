-- Every row-level-security policy applies to the role it is for, instead of to everyone with
-- a test of the caller inside.
--
-- Until now each policy was `to public` and began `(select concordat_is_system()) or ...`: the
-- system role and the tables' owner passed on the first arm, the application role on the rest.
-- The answers were right, but PostgreSQL plans and starts every policy in full for every role —
-- the call of concordat_is_system (a catalogue lookup each time) and the tenant arm with its
-- nested subqueries, each with the policies of the tables it reads — and a statement's executor
-- start-up walks all of it even when the first arm is true. Measured in the access decision,
-- run as the owner: ~270 of its ~390 µs of PostgreSQL CPU were the policies (docs/benchmarks.md,
-- thirteenth round).
--
-- Now each table has one policy for the system role and the owner, `using (true)` for exactly
-- the commands they had (every command, except exit_exports: read and insert, as before), and
-- the tenant policies, unchanged but for the arm they no longer need, apply to concordat_app
-- (and the roles that inherit from it) only. PostgreSQL leaves a policy for another role out of
-- the plan altogether. What each role may see and do is unchanged:
--   - concordat_system, its members and the owner: concordat_is_system() was true for them,
--     and every policy let them through; now their own policy does. (A role that inherits
--     from the owner, which concordat_is_system() did not count, now passes the owner's
--     policy too; such a role may lift FORCE ROW LEVEL SECURITY from the owner's tables
--     anyway, and the store refuses to run as one.)
--   - concordat_app and its members: concordat_is_system() was false for them (the store
--     refuses to start as a member of concordat_system or of the owner), so only the tenant arm
--     ever let them through; it still does, word for word.
--   - any other role: concordat_is_system() was false and concordat_begin is not theirs to call,
--     so no tenant arm let them see or write a row; no policy applies to them now, which is
--     the same refusal.
-- concordat_is_system() stays for the functions and checks that ask it.
--
-- The owner is named as the role that owns public.documents (as concordat_is_system() named
-- it); the migrations run as the owner. A table added later gets the same pair of policies.

do $$
declare
    owner text := (select pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner))
                   from pg_catalog.pg_class c where c.oid = 'public.documents'::pg_catalog.regclass);
    t text;
begin
    -- The system role and the owner: every row, every command.
    foreach t in array array[
        'organisations', 'organisation_domains', 'organisation_aliases', 'users', 'sessions',
        'partnerships', 'partnership_members', 'spaces', 'documents', 'doc_chunks', 'grants',
        'invitations', 'invitation_documents', 'doc_actors', 'doc_versions'
    ] loop
        execute pg_catalog.format(
            'create policy %I on public.%I for all to concordat_system, %s using (true) with check (true)',
            t || '_system', t, owner);
    end loop;
    -- exit_exports: read and insert, the commands its policies allowed anyone.
    execute pg_catalog.format(
        'create policy exit_exports_system_read on public.exit_exports for select to concordat_system, %s using (true)',
        owner);
    execute pg_catalog.format(
        'create policy exit_exports_system_insert on public.exit_exports for insert to concordat_system, %s with check (true)',
        owner);
    -- Tables only the system uses: their one policy, for the system only.
    foreach t in array array[
        'refresh_spent', 'account_setups', 'node_heartbeats', 'live_tickets', 'live_peers',
        'organisation_sso', 'sso_states'
    ] loop
        execute pg_catalog.format('drop policy %I on public.%I', t || '_system', t);
        execute pg_catalog.format(
            'create policy %I on public.%I for all to concordat_system, %s using (true) with check (true)',
            t || '_system', t, owner);
    end loop;
end
$$;

-- Policies that were the system's alone: its own policy above replaces them.
drop policy organisations_write on organisations;
drop policy organisation_domains_write on organisation_domains;
drop policy organisation_aliases_write on organisation_aliases;
drop policy users_delete on users;
drop policy spaces_write on spaces;

-- The tenant policies, for the application role, without the system's arm.
alter policy organisations_read on organisations to concordat_app
    using ((select concordat_user()) is not null);
alter policy organisation_domains_read on organisation_domains to concordat_app
    using ((select concordat_user()) is not null);
alter policy organisation_aliases_read on organisation_aliases to concordat_app
    using ((select concordat_user()) is not null);

alter policy users_read on users to concordat_app
    using (id = (select concordat_user())
           or (not (select concordat_is_guest()) and not is_guest
               and org_id = (select concordat_org())));
alter policy users_insert on users to concordat_app
    with check (not (select concordat_is_guest()) and not is_guest
                and org_id = (select concordat_org()));
alter policy users_update on users to concordat_app
    using (id = (select concordat_user()))
    with check (id = (select concordat_user()));

alter policy sessions_access on sessions to concordat_app
    using (user_id = (select concordat_user()))
    with check (user_id = (select concordat_user()));

alter policy partnership_members_read on partnership_members to concordat_app
    using (org_id = (select concordat_org())
           or partnership_id = any ((select concordat_space_partnerships())::uuid[]));
alter policy partnership_members_write on partnership_members to concordat_app
    using (partnership_id = any ((select concordat_space_partnerships())::uuid[]))
    with check (partnership_id = any ((select concordat_space_partnerships())::uuid[]));

alter policy partnerships_read on partnerships to concordat_app
    using (id in (select partnership_id from partnership_members
                  where org_id = (select concordat_org())));
alter policy partnerships_write on partnerships to concordat_app
    using (id = any ((select concordat_space_partnerships())::uuid[]))
    with check (id = any ((select concordat_space_partnerships())::uuid[]));

alter policy spaces_read on spaces to concordat_app
    using ((not (select concordat_is_guest()) and org_id = (select concordat_org()))
           or partnership_id = any ((select concordat_space_partnerships())::uuid[])
           or id = any ((select concordat_granted_spaces())::uuid[]));

alter policy documents_access on documents to concordat_app
    using (space_id in (select id from spaces
                        where (not (select concordat_is_guest())
                               and org_id = (select concordat_org()))
                           or partnership_id = any ((select concordat_space_partnerships())::uuid[]))
           or id in (select document_id from grants
                     where user_id = (select concordat_user()) and revoked_at is null
                       and (expires_at is null or expires_at > concordat_now_ms())))
    with check (space_id in (select id from spaces
                             where (not (select concordat_is_guest())
                                    and org_id = (select concordat_org()))
                                or partnership_id = any ((select concordat_space_partnerships())::uuid[])));

alter policy doc_chunks_access on doc_chunks to concordat_app
    using (document_id in (select id from documents))
    with check (document_id in (select id from documents));
alter policy doc_actors_access on doc_actors to concordat_app
    using (document_id in (select id from documents))
    with check (document_id in (select id from documents));
alter policy doc_versions_access on doc_versions to concordat_app
    using (document_id in (select id from documents))
    with check (document_id in (select id from documents));

alter policy grants_access on grants to concordat_app
    using (user_id = (select concordat_user())
           or space_id in (select id from spaces
                           where (not (select concordat_is_guest())
                                  and org_id = (select concordat_org()))
                              or partnership_id = any ((select concordat_space_partnerships())::uuid[])))
    with check (space_id in (select id from spaces
                             where (not (select concordat_is_guest())
                                    and org_id = (select concordat_org()))
                                or partnership_id = any ((select concordat_space_partnerships())::uuid[])));

alter policy invitations_access on invitations to concordat_app
    using (not (select concordat_is_guest()) and org_id = (select concordat_org()))
    with check (not (select concordat_is_guest()) and org_id = (select concordat_org()));
alter policy invitation_documents_access on invitation_documents to concordat_app
    using (invitation_id in (select id from invitations))
    with check (invitation_id in (select id from invitations));

alter policy exit_exports_read on exit_exports to concordat_app
    using (not (select concordat_is_guest()) and org_id = (select concordat_org()));
alter policy exit_exports_insert on exit_exports to concordat_app
    with check (not (select concordat_is_guest()) and org_id = (select concordat_org()));
