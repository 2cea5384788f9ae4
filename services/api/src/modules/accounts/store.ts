import type { Sql } from "@xplicit/shared/db";
import { conflict } from "@xplicit/shared/errors";
import type { Registration } from "./validation.ts";

export interface Account {
  id: string;
  email: string;
  handle: string;
  displayName: string;
  bio: string;
  role: "member" | "admin";
  birthDate: string;
  createdAt: string;
}

interface AccountRow {
  id: string;
  email: string;
  handle: string;
  display_name: string;
  bio: string;
  role: "member" | "admin";
  birth_date: Date;
  created_at: Date;
}

function toAccount(r: AccountRow): Account {
  return {
    id: r.id,
    email: r.email,
    handle: r.handle,
    displayName: r.display_name,
    bio: r.bio,
    role: r.role,
    birthDate: r.birth_date.toISOString().slice(0, 10),
    createdAt: r.created_at.toISOString(),
  };
}

export async function insertAccount(sql: Sql, reg: Registration, passwordHash: string): Promise<Account> {
  try {
    const [row] = await sql<AccountRow[]>`
      insert into users (email, handle, password_hash, birth_date, display_name, terms_accepted_at)
      values (${reg.email}, ${reg.handle}, ${passwordHash}, ${reg.birthDate}, ${reg.handle}, now())
      returning id, email, handle, display_name, bio, role, birth_date, created_at`;
    return toAccount(row!);
  } catch (err) {
    const e = err as { code?: string; constraint_name?: string };
    if (e.code === "23505") {
      if (e.constraint_name === "users_handle_key") throw conflict("handle_taken", "that handle is taken");
      throw conflict("email_taken", "an account with that email exists");
    }
    throw err;
  }
}

export async function findCredentials(sql: Sql, email: string): Promise<{ id: string; passwordHash: string } | null> {
  const [row] = await sql<{ id: string; password_hash: string }[]>`select id, password_hash from users where email = ${email}`;
  return row ? { id: row.id, passwordHash: row.password_hash } : null;
}

export async function findAccount(sql: Sql, id: string): Promise<Account | null> {
  const [row] = await sql<AccountRow[]>`
    select id, email, handle, display_name, bio, role, birth_date, created_at from users where id = ${id}`;
  return row ? toAccount(row) : null;
}

export async function updatePasswordHash(sql: Sql, id: string, passwordHash: string): Promise<void> {
  await sql`update users set password_hash = ${passwordHash} where id = ${id}`;
}
