-- Single sign-on (OpenID Connect), per organisation: its identity provider, and the short-lived
-- states of sign-ins in progress (a login's nonce and PKCE verifier until the provider answers;
-- then a one-time hand-off code for the browser). States are kept by their hash only. System
-- work only: set by the platform operator, read while signing in.
create table organisation_sso (
    org_id         uuid primary key references organisations (id),
    issuer         text not null,
    client_id      text not null,
    client_secret  text not null,
    updated_at     bigint not null
);
alter table organisation_sso enable row level security;
alter table organisation_sso force row level security;
create policy organisation_sso_system on organisation_sso for all
    using ((select concordat_is_system()))
    with check ((select concordat_is_system()));
grant select, insert, update, delete on organisation_sso to concordat_system;

create table sso_states (
    hash        text primary key,
    kind        text not null check (kind in ('login', 'handoff')),
    org_id      uuid not null references organisations (id),
    email       text,
    nonce       text,
    verifier    text,
    expires_at  bigint not null
);
create index sso_states_expiry on sso_states (expires_at);
alter table sso_states enable row level security;
alter table sso_states force row level security;
create policy sso_states_system on sso_states for all
    using ((select concordat_is_system()))
    with check ((select concordat_is_system()));
grant select, insert, delete on sso_states to concordat_system;
