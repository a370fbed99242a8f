-- Running Concordat for real (first run): the platform operator, made by `concordat setup`,
-- creates organisations, their first administrators and partnerships. A flag on the account,
-- read fresh on every request.
alter table users add column platform_operator boolean not null default false;

-- One-time links to choose a password: for the operator and for each organisation's first
-- administrator. Only the token's SHA-256 is stored.
create table account_setups (
    token_hash  text primary key,
    user_id     blob not null references users (id) on delete cascade,
    expires_at  integer not null,
    used_at     integer,
    created_at  integer not null
);
create index account_setups_user on account_setups (user_id);
