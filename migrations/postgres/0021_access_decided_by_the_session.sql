-- The access decision in one call (0017), decided by the session instead of through the
-- context table: what every peer opening a document asks, ~75 % of PostgreSQL's work when
-- 10 000 peers connect (docs/benchmarks.md, twelfth round).
--
-- 0017 ran with its caller's rights: concordat_begin wrote the caller into concordat_context
-- (a delete and an insert, so a WAL flush at commit), then each statement read the tables
-- through their policies, which nest (documents' policy reads spaces and grants, grants' policy
-- reads spaces) and call the context's definer accessors ~20 times for one decision.
--
-- Now it is security definer, run by the tables' owner, and derives the caller from the live
-- session itself, exactly as concordat_begin does (the same session, the same user, not
-- disabled, not expired, not revoked; its partnerships and the spaces of its live grants, as
-- concordat_begin records them). Each table the statements read is then shadowed by a CTE of
-- the same name holding the rows its policy shows that caller — the policy's own condition, with
-- the caller's values in place of the accessors — so the statements themselves are the text
-- 0017 ran, and the store's unit test still compares them with the store's own fragments.
-- Both walls still hold: the store's filter on the principal the server claims ($1-$4), and
-- the policies' conditions on what the session is. Nothing is written: the call is one
-- read-only transaction.
--
-- Kept in step with the policies of 0005 (documents_access, spaces_read,
-- partnership_members_read, grants_access): a migration that changes one of them changes this
-- function too. The PostgreSQL suite compares this call's answers with the general path's
-- (concordat_begin, then the statements under the real policies) for every account and
-- document, a forged principal, a revoked session, an ended membership, an expired and a
-- revoked grant.
create or replace function concordat_document_access(
    p_org uuid,
    p_guest boolean,
    p_user uuid,
    p_now bigint,
    p_document text,
    p_session uuid
) returns text language plpgsql volatile security definer
    set search_path = pg_catalog, public, pg_temp
as $$
declare
    now_ms bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
    u record;
    parts uuid[];
    granted_spaces uuid[];
    doc json;
begin
    -- concordat_begin's caller.
    select users.id, users.org_id, users.is_guest into u
        from public.sessions join public.users on users.id = sessions.user_id
        where sessions.id = p_session and sessions.revoked_at is null
          and sessions.expires_at > now_ms and not users.disabled;
    if not found then
        return null;
    end if;
    parts := case when u.is_guest then '{}'::uuid[] else coalesce((
        select array_agg(partnership_id) from public.partnership_members
        where org_id = u.org_id and role in ('host', 'member') and left_at is null), '{}') end;
    granted_spaces := coalesce((select array_agg(distinct space_id) from public.grants
        where user_id = u.id and revoked_at is null
          and (expires_at is null or expires_at > now_ms)), '{}');

    with
    -- spaces_read
    spaces as not materialized (
        select * from public.spaces
        where (not u.is_guest and org_id = u.org_id)
           or partnership_id = any (parts) or id = any (granted_spaces)),
    -- documents_access
    documents as not materialized (
        select * from public.documents
        where space_id in (select id from public.spaces
                           where (not u.is_guest and org_id = u.org_id)
                              or partnership_id = any (parts))
           or id in (select document_id from public.grants
                     where user_id = u.id and revoked_at is null
                       and (expires_at is null or expires_at > now_ms))),
    -- partnership_members_read
    partnership_members as not materialized (
        select * from public.partnership_members
        where org_id = u.org_id or partnership_id = any (parts)),
    -- grants_access
    grants as not materialized (
        select * from public.grants
        where user_id = u.id
           or space_id in (select id from public.spaces
                           where (not u.is_guest and org_id = u.org_id)
                              or partnership_id = any (parts)))
    select row_to_json(r) into doc from (
        select d.id, d.space_id, d.kind, d.title, d.archived, d.created_by, d.created_at, d.updated_at, s.org_id as space_org_id, s.partnership_id as space_partnership_id
        from documents d join spaces s on s.id = d.space_id
        where
-- visible_doc!() of crates/store/src/sql.rs, verbatim:
((not $2 and (s.org_id = $1 or s.partnership_id in (select partnership_id from partnership_members where org_id = $1 and role in ('host', 'member') and left_at is null))) or d.id in (select document_id from grants where user_id = $3 and revoked_at is null and (expires_at is null or expires_at > $4)))
            and d.id = $5
    ) r;
    if doc is null then
        return null;
    end if;

    return (
        with
        -- partnership_members_read
        partnership_members as not materialized (
            select * from public.partnership_members
            where org_id = u.org_id or partnership_id = any (parts)),
        -- grants_access
        grants as not materialized (
            select * from public.grants
            where user_id = u.id
               or space_id in (select id from public.spaces
                               where (not u.is_guest and org_id = u.org_id)
                                  or partnership_id = any (parts)))
        select json_build_object(
            'document', doc,
            'memberships', coalesce((
                select json_agg(m) from (
                    select partnership_id, org_id, role, joined_at, left_at
                    from partnership_members where org_id = $1) m), '[]'::json),
            'grants', coalesce((
                select json_agg(g) from (
                    select id, document_id, user_id, role, expires_at, revoked_at, granted_by, created_at
                    from grants where user_id = $3) g), '[]'::json)
        )::text);
end
$$;
revoke all on function concordat_document_access(uuid, boolean, uuid, bigint, text, uuid)
    from public;
grant execute on function concordat_document_access(uuid, boolean, uuid, bigint, text, uuid)
    to concordat_app;
