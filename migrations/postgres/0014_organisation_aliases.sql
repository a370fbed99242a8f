-- The short names and aliases an organisation is known by in partners' spreadsheets ("EDC",
-- "Eastbridge", an old name), set by its administrator; an import resolves them as it does
-- the organisation's name. Readable as organisations are (any signed-in user: names of public
-- bodies are not tenant data); written only as system work, after the server has checked the
-- caller administers the organisation.
create table organisation_aliases (
    org_id  uuid not null references organisations (id),
    alias   text not null,
    primary key (org_id, alias)
);

alter table organisation_aliases enable row level security;
alter table organisation_aliases force row level security;
create policy organisation_aliases_read on organisation_aliases for select
    using ((select concordat_is_system()) or (select concordat_user()) is not null);
create policy organisation_aliases_write on organisation_aliases for all
    using ((select concordat_is_system())) with check ((select concordat_is_system()));

grant select on organisation_aliases to concordat_app;
grant select, insert, update, delete on organisation_aliases to concordat_system;
