-- The tenant wall: each organisation's verified e-mail domains. A domain belongs to at most
-- one organisation; accounts are created only in their organisation's domains, and guests
-- never in another organisation's.
create table organisation_domains (
    domain  text primary key,
    org_id  blob not null references organisations (id)
);
create index organisation_domains_org on organisation_domains (org_id);
