-- The workspace: organisations, users, sessions, partnerships, spaces, documents, grants and
-- invitations. Instants are milliseconds since the Unix epoch (UTC). Ids are random UUID v4s
-- (uuid here), document ids automerge-repo's base58check text.

create table organisations (
    id          uuid primary key,
    name        text not null unique,
    kind        text not null check (kind in ('council', 'partner')),
    created_at  bigint not null
);

create table users (
    id             uuid primary key,
    org_id         uuid not null references organisations (id),
    email          text not null unique,
    display_name   text not null,
    password_hash  text,
    role           text not null check (role in ('admin', 'member')),
    is_guest       boolean not null default false,
    disabled       boolean not null default false,
    created_at     bigint not null
);
create index users_org on users (org_id);

create table sessions (
    id            uuid primary key,
    user_id       uuid not null references users (id),
    refresh_hash  text not null unique,
    created_at    bigint not null,
    expires_at    bigint not null,
    revoked_at    bigint
);
create index sessions_user on sessions (user_id);

create table partnerships (
    id                    uuid primary key,
    name                  text not null,
    legal_basis           text not null,
    review_date           text check (review_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
    notice_period_months  integer,
    created_at            bigint not null
);

create table partnership_members (
    partnership_id  uuid not null references partnerships (id),
    org_id          uuid not null references organisations (id),
    role            text not null check (role in ('host', 'member', 'guest')),
    joined_at       bigint not null,
    left_at         bigint,
    primary key (partnership_id, org_id)
);
create index partnership_members_org on partnership_members (org_id);

create table spaces (
    id              uuid primary key,
    name            text not null,
    org_id          uuid references organisations (id),
    partnership_id  uuid references partnerships (id),
    check ((org_id is null) <> (partnership_id is null))
);
create unique index spaces_one_private on spaces (org_id) where org_id is not null;
create unique index spaces_one_shared on spaces (partnership_id) where partnership_id is not null;

create table documents (
    id          text primary key,
    space_id    uuid not null references spaces (id),
    kind        text not null check (kind in ('risk-register', 'sla', 'agreement', 'meeting')),
    title       text not null,
    archived    boolean not null default false,
    created_by  uuid not null references users (id),
    created_at  bigint not null,
    updated_at  bigint not null
);
create index documents_space on documents (space_id, created_at, id);
create index documents_order on documents (created_at, id);

-- The automerge content: a snapshot plus incremental changes, in order.
create table doc_chunks (
    document_id  text not null references documents (id),
    seq          bigint not null,
    kind         text not null check (kind in ('snapshot', 'incremental')),
    data         bytea not null,
    created_at   bigint not null,
    primary key (document_id, seq)
);

create table grants (
    id           uuid primary key,
    document_id  text not null references documents (id),
    -- The document's space, kept here so access rules need not join through documents.
    space_id     uuid not null references spaces (id),
    user_id      uuid not null references users (id),
    role         text not null check (role in ('viewer', 'commenter', 'editor')),
    expires_at   bigint,
    revoked_at   bigint,
    granted_by   uuid not null references users (id),
    created_at   bigint not null
);
create index grants_user on grants (user_id);
create index grants_document on grants (document_id);

create table invitations (
    id                uuid primary key,
    token_hash        text not null unique,
    email             text not null,
    org_id            uuid not null references organisations (id),
    guest_org_id      uuid not null references organisations (id),
    role              text not null check (role in ('viewer', 'commenter', 'editor')),
    expires_at        bigint not null,
    grant_expires_at  bigint,
    accepted_at       bigint,
    accepted_user_id  uuid references users (id),
    revoked_at        bigint,
    created_by        uuid not null references users (id),
    created_at        bigint not null
);
create index invitations_org on invitations (org_id);

create table invitation_documents (
    invitation_id  uuid not null references invitations (id),
    document_id    text not null references documents (id),
    primary key (invitation_id, document_id)
);
