-- Single sign-on (OpenID Connect), per organisation: its identity provider, and the short-lived
-- states of sign-ins in progress (a login's nonce and PKCE verifier until the provider answers;
-- then a one-time hand-off code for the browser). States are kept by their hash only.
create table organisation_sso (
    org_id         blob primary key references organisations (id),
    issuer         text not null,
    client_id      text not null,
    client_secret  text not null,
    updated_at     integer not null
);

create table sso_states (
    hash        text primary key,
    kind        text not null check (kind in ('login', 'handoff')),
    org_id      blob not null references organisations (id),
    email       text,
    nonce       text,
    verifier    text,
    expires_at  integer not null
);
create index sso_states_expiry on sso_states (expires_at);
