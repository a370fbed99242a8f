-- Live sync: a checksum on every stored chunk (a corrupt chunk is reported, never skipped) and
-- the binding of automerge actor ids to the users who author with them, per document.

alter table doc_chunks add column checksum text;

create table doc_actors (
    document_id  text not null references documents (id),
    actor_id     blob not null,
    user_id      blob not null,
    created_at   integer not null,
    primary key (document_id, actor_id)
);
