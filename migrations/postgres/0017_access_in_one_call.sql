-- A caller's access to one document in one call: what the sync runtime asks each time a peer
-- opens a document (and what a REST request on one document asks). It was one transaction of
-- six round trips (begin, concordat_begin, the document, the caller's memberships, their grants,
-- commit), each a statement for PostgreSQL to start and a wake-up on both sides; at 10 000 peers
-- connecting that was most of PostgreSQL's work.
--
-- Not security definer: it runs with its caller's rights (the application role's), so every
-- policy holds for each statement inside exactly as for the statements it replaces, and
-- concordat_begin sets the caller for this call's transaction only (the caller calls it outside
-- any transaction of its own: one statement, one transaction). PL/pgSQL runs each statement with
-- a snapshot of its own, so the statements after concordat_begin see the context it recorded.
--
-- The parameters are numbered as the store's access fragments bind them ($1 the caller's
-- organisation, $2 whether they are a guest, $3 their user id, $4 the instant decided for), so
-- the document's filter below is the text of `visible_doc!` (crates/store/src/sql.rs) verbatim;
-- a test of the store compares the two texts, and the PostgreSQL suite compares this call's
-- answers with those of the separate statements for every account and document.
--
-- Returns null if the caller may not see the document (or it does not exist); else one JSON
-- object: the document's row (the store's DOC_COLUMNS), the caller's organisation's memberships
-- and the caller's grants, as the separate statements read them.
create function concordat_document_access(
    p_org uuid,
    p_guest boolean,
    p_user uuid,
    p_now bigint,
    p_document text,
    p_session uuid
) returns text language plpgsql volatile
    set search_path = pg_catalog, public
as $$
declare
    doc json;
begin
    perform concordat_begin(p_session);
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
    return json_build_object(
        'document', doc,
        'memberships', coalesce((
            select json_agg(m) from (
                select partnership_id, org_id, role, joined_at, left_at
                from partnership_members where org_id = $1) m), '[]'::json),
        'grants', coalesce((
            select json_agg(g) from (
                select id, document_id, user_id, role, expires_at, revoked_at, granted_by, created_at
                from grants where user_id = $3) g), '[]'::json)
    )::text;
end
$$;
revoke all on function concordat_document_access(uuid, boolean, uuid, bigint, text, uuid)
    from public;
grant execute on function concordat_document_access(uuid, boolean, uuid, bigint, text, uuid)
    to concordat_app;
