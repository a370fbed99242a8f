-- Running Concordat for real (first run): the platform operator, made by `concordat setup`,
-- creates organisations, their first administrators and partnerships. A flag on the account,
-- read fresh on every request.
alter table users add column platform_operator boolean not null default false;

-- Only system work (set-up, the operator's requests the server has authorised) makes or
-- unmakes an operator: an organisation's admin may insert users and a user may update their
-- own row, but neither may touch this flag.
create function concordat_operator_guard() returns trigger language plpgsql
    set search_path = pg_catalog, public
as $$
begin
    if (tg_op = 'INSERT' and new.platform_operator
        or tg_op = 'UPDATE' and new.platform_operator is distinct from old.platform_operator)
       and not concordat_is_system() then
        raise exception 'only system work may change platform_operator' using errcode = '42501';
    end if;
    return new;
end
$$;
create trigger users_operator_guard before insert or update on users
    for each row execute function concordat_operator_guard();

-- One-time links to choose a password: for the operator and for each organisation's first
-- administrator. Only the token's SHA-256 is stored; only system work reads or writes them.
create table account_setups (
    token_hash  text primary key,
    user_id     uuid not null references users (id) on delete cascade,
    expires_at  bigint not null,
    used_at     bigint,
    created_at  bigint not null
);
create index account_setups_user on account_setups (user_id);

alter table account_setups enable row level security;
alter table account_setups force row level security;
create policy account_setups_system on account_setups for all
    using ((select concordat_is_system()))
    with check ((select concordat_is_system()));
grant select, insert, update, delete on account_setups to concordat_system;
