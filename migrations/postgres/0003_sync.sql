-- Live sync: a checksum on every stored chunk (a corrupt chunk is reported, never skipped) and
-- the binding of automerge actor ids to the users who author with them, per document.

alter table doc_chunks add column checksum text;

create table doc_actors (
    document_id  text not null references documents (id),
    actor_id     bytea not null,
    user_id      uuid not null,
    created_at   bigint not null,
    primary key (document_id, actor_id)
);

alter table doc_actors enable row level security;
alter table doc_actors force row level security;
create policy doc_actors_access on doc_actors for all
    using (concordat_is_system() or document_id in (select id from documents))
    with check (concordat_is_system() or document_id in (select id from documents));

grant select, insert, update, delete on doc_actors to concordat_app;
