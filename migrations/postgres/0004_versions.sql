-- Named versions: a document's heads frozen under a label ("Agreed at Joint Governance
-- Committee, 12 March"). What a committee agreed must be reproducible years later, so a version
-- is never altered or deleted: the app role may only insert and read, and triggers refuse
-- updates and deletes even from the owner.

create table doc_versions (
    id           uuid primary key,
    document_id  text not null references documents (id),
    label        text not null,
    -- JSON array of the automerge change hashes (hex) that were the document's heads.
    heads        text not null,
    created_by   uuid not null references users (id),
    created_at   bigint not null
);
create index doc_versions_document on doc_versions (document_id, created_at);

create function concordat_versions_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'named versions are never altered or deleted';
end;
$$;

-- Per statement, so it refuses even when row-level security hides every row from the caller.
create trigger doc_versions_immutable before update or delete or truncate on doc_versions
    for each statement execute function concordat_versions_immutable();

alter table doc_versions enable row level security;
alter table doc_versions force row level security;
create policy doc_versions_access on doc_versions for all
    using (concordat_is_system() or document_id in (select id from documents))
    with check (concordat_is_system() or document_id in (select id from documents));

grant select, insert on doc_versions to concordat_app;
