-- Named versions: a document's heads frozen under a label ("Agreed at Joint Governance
-- Committee, 12 March"). What a committee agreed must be reproducible years later, so a version
-- is never altered or deleted: the triggers refuse both.

create table doc_versions (
    id           blob primary key,
    document_id  text not null references documents (id),
    label        text not null,
    -- JSON array of the automerge change hashes (hex) that were the document's heads.
    heads        text not null,
    created_by   blob not null references users (id),
    created_at   integer not null
);
create index doc_versions_document on doc_versions (document_id, created_at);

create trigger doc_versions_no_update before update on doc_versions
begin
    select raise(abort, 'named versions are never altered');
end;

create trigger doc_versions_no_delete before delete on doc_versions
begin
    select raise(abort, 'named versions are never deleted');
end;
