-- The short names and aliases an organisation is known by in partners' spreadsheets ("EDC",
-- "Eastbridge", an old name), set by its administrator; an import resolves them as it does
-- the organisation's name.
create table organisation_aliases (
    org_id  blob not null references organisations (id),
    alias   text not null,
    primary key (org_id, alias)
);
