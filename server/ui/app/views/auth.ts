/**
 * The Users & roles view: users with their roles, roles with their permissions; add,
 * delete, grant and revoke; enable and disable auth. Every call goes through the gateway,
 * so only an admin (root) gets anything done once auth is on, exactly as with etcdctl.
 */
import { call, currentUser, GatewayError } from "../api.ts";
import { display, fromB64, prefixEnd, toB64, utf8 } from "../bytes.ts";
import { $, button, confirmWrite, h, onSubmit, say } from "../dom.ts";

interface Permission {
  readonly permType?: string;
  readonly key?: string;
  readonly range_end?: string;
}

export function initAuth(): void {
  onSubmit($<HTMLFormElement>("user-form"), addUser);
  onSubmit($<HTMLFormElement>("role-form"), addRole);
  onSubmit($<HTMLFormElement>("perm-form"), grantPermission);
  $("auth-enable").addEventListener("click", () => setAuth(true).catch((e) => say(e.message, true)));
  $("auth-disable").addEventListener("click", () => setAuth(false).catch((e) => say(e.message, true)));
}

/** Lists users and roles (again). */
export async function showAuth(): Promise<void> {
  const state = $("auth-state");
  let users: string[];
  try {
    users = (await call<{ users?: string[] }>("/v3/auth/user/list", {})).users ?? [];
  } catch (e) {
    state.textContent = e instanceof GatewayError ? `Auth is on: ${e.message}` : String(e);
    $("auth-enable").hidden = true;
    $("user-rows").replaceChildren();
    $("role-rows").replaceChildren();
    return;
  }
  const user = currentUser();
  $("auth-enable").hidden = user !== null;
  $("auth-disable").hidden = user === null;
  state.textContent = user === null
    ? "Auth is off: anyone can change users and roles."
    : `Auth is on: logged in as ${user}.`;
  const roles = (await call<{ roles?: string[] }>("/v3/auth/role/list", {})).roles ?? [];
  const userRoles = await Promise.all(
    users.map((u) => call<{ roles?: string[] }>("/v3/auth/user/get", { name: u }).then((r) => r.roles ?? [])),
  );
  const perms = await Promise.all(
    roles.map((r) =>
      call<{ perm?: Permission[] }>("/v3/auth/role/get", { role: r }).then((x) => x.perm ?? [])
    ),
  );
  $("user-rows").replaceChildren(...users.map((u, i) => userRow(u, userRoles[i], roles)));
  $("role-rows").replaceChildren(...roles.map((r, i) => roleRow(r, perms[i])));
  const pick = $<HTMLSelectElement>("perm-role");
  const was = pick.value;
  pick.replaceChildren(...roles.map((r) => h("option", { value: r }, r)));
  if (roles.includes(was)) pick.value = was;
}

function userRow(name: string, roles: string[], allRoles: string[]): HTMLElement {
  const pick = h(
    "select.grant-role",
    null,
    ...allRoles.filter((r) => !roles.includes(r)).map((r) => h("option", { value: r }, r)),
  );
  return h(
    "tr",
    { "data-user": name },
    h("td", null, name),
    h(
      "td",
      null,
      ...roles.map((r) =>
        h(
          "span.chip",
          null,
          r,
          button("×", () =>
            write(`Revoke role ${r} from ${name}?`, "/v3/auth/user/revoke", { name, role: r }), "x"),
        )
      ),
    ),
    h(
      "td",
      null,
      h(
        "div.actions",
        null,
        pick,
        button(
          "Grant role",
          () =>
            write(`Grant role ${pick.value} to ${name}?`, "/v3/auth/user/grant", {
              user: name,
              role: pick.value,
            }),
          "plain",
        ),
        button("Password…", () => changePassword(name), "plain"),
        button("Delete", () => write(`Delete user ${name}?`, "/v3/auth/user/delete", { name }), "danger"),
      ),
    ),
  );
}

function roleRow(role: string, perms: Permission[]): HTMLElement {
  return h(
    "tr",
    { "data-role": role },
    h("td", null, role),
    h(
      "td",
      null,
      ...perms.map((p) => {
        const key = fromB64(p.key);
        const end = fromB64(p.range_end);
        return h(
          "span.chip",
          null,
          `${p.permType ?? "READ"} ${describeRange(key, end)}`,
          button(
            "×",
            () =>
              write(
                `Revoke ${p.permType ?? "READ"} on ${describeRange(key, end)} from role ${role}?`,
                "/v3/auth/role/revoke",
                {
                  role,
                  key: toB64(key),
                  range_end: toB64(end),
                },
              ),
            "x",
          ),
        );
      }),
    ),
    h(
      "td",
      null,
      button("Delete", () => write(`Delete role ${role}?`, "/v3/auth/role/delete", { role }), "danger"),
    ),
  );
}

/** A permission's keys as etcdctl prints them: a key, a prefix, or [key, end). */
function describeRange(key: string, end: string): string {
  if (end === "") return display(key);
  if (end === prefixEnd(key)) return `${display(key)}* (prefix)`;
  if (end === "\0") return `[${display(key)}, ∞)`;
  return `[${display(key)}, ${display(end)})`;
}

/** A confirmed write, then the lists again. */
async function write(question: string, path: string, body: unknown): Promise<void> {
  if (!confirmWrite(question)) return;
  await call(path, body);
  say(question.replace(/\?$/, ": done"));
  await showAuth();
}

async function addUser(): Promise<void> {
  const name = $<HTMLInputElement>("user-name").value.trim();
  const password = $<HTMLInputElement>("user-password").value;
  if (name === "") throw new Error("a user name is required");
  await write(`Add user ${name}?`, "/v3/auth/user/add", { name, password });
  $<HTMLInputElement>("user-name").value = "";
  $<HTMLInputElement>("user-password").value = "";
}

async function addRole(): Promise<void> {
  const name = $<HTMLInputElement>("role-name").value.trim();
  if (name === "") throw new Error("a role name is required");
  await write(`Add role ${name}?`, "/v3/auth/role/add", { name });
  $<HTMLInputElement>("role-name").value = "";
}

async function changePassword(name: string): Promise<void> {
  const password = globalThis.prompt(`New password for ${name}`);
  if (password === null) return;
  await write(`Change the password of ${name}?`, "/v3/auth/user/changepw", { name, password });
}

async function grantPermission(): Promise<void> {
  const role = $<HTMLSelectElement>("perm-role").value;
  const key = utf8($<HTMLInputElement>("perm-key").value);
  const prefix = $<HTMLInputElement>("perm-prefix").checked;
  const permType = $<HTMLSelectElement>("perm-type").value;
  if (role === "") throw new Error("add a role first");
  const end = prefix ? prefixEnd(key) : "";
  await write(`Grant ${permType} on ${describeRange(key, end)} to role ${role}?`, "/v3/auth/role/grant", {
    name: role,
    perm: { permType, key: toB64(key), range_end: toB64(end) },
  });
}

async function setAuth(on: boolean): Promise<void> {
  await write(
    on ? "Enable auth? Only users with a password can then use the cluster." : "Disable auth?",
    on ? "/v3/auth/enable" : "/v3/auth/disable",
    {},
  );
}
