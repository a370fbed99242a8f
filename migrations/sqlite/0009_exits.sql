-- A council leaving a partnership takes a complete export with it: its own documents, and the
-- shared documents as they stood on its exit date (each a named version). Kept here so that its
-- administrators can download it again after their access to the partnership has ended.
create table exit_exports (
    id              blob primary key,
    org_id          blob not null references organisations (id),
    partnership_id  blob not null references partnerships (id),
    created_by      blob not null references users (id),
    created_at      integer not null,
    bytes           integer not null,
    checksum        text not null,
    data            blob not null
);
create index exit_exports_org on exit_exports (org_id);
