-- A council leaving a partnership takes a complete export with it: its own documents, and the
-- shared documents as they stood on its exit date (each a named version). Kept here so that its
-- administrators can download it again after their access to the partnership has ended.
create table exit_exports (
    id              uuid primary key,
    org_id          uuid not null references organisations (id),
    partnership_id  uuid not null references partnerships (id),
    created_by      uuid not null references users (id),
    created_at      bigint not null,
    bytes           bigint not null,
    checksum        text not null,
    data            bytea not null
);
create index exit_exports_org on exit_exports (org_id);

-- A council's own exports, to its own (non-guest) people; written once, never changed.
alter table exit_exports enable row level security;
alter table exit_exports force row level security;
create policy exit_exports_read on exit_exports for select
    using ((select concordat_is_system())
           or (not (select concordat_is_guest()) and org_id = (select concordat_org())));
create policy exit_exports_insert on exit_exports for insert
    with check ((select concordat_is_system())
           or (not (select concordat_is_guest()) and org_id = (select concordat_org())));
grant select, insert on exit_exports to concordat_app;
grant select, insert on exit_exports to concordat_system;
