/**
 * The Auth service. Every change goes through the log and is applied by server/auth/store.ts on
 * every member. Passwords are hashed (and checked) here, before proposing, never in
 * apply: bcrypt is slow and its salt random. Authenticate checks the password, then
 * proposes, so the token is issued in log order with user changes (etcd does the same).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Auth, AuthenticateResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { Code, Errors, type EtcdError, etcdError, isEtcdError } from "../../api/errors.ts";
import type { ImplOf } from "../grpc/server.ts";
import { responseHeader } from "../header.ts";
import type { Member } from "../member.ts";
import type { StateMachine } from "../apply/state_machine.ts";
import type { AuthResponse } from "../auth/store.ts";
import type { AuthInfo, TokenProvider } from "../auth/tokens.ts";
import { hashPassword, verifyPassword } from "../auth/password.ts";
import { stamped } from "../auth/stamp.ts";

export interface AuthDeps {
  readonly member: Member;
  readonly state: StateMachine;
  readonly tokens: TokenProvider;
  /** --bcrypt-cost. */
  readonly bcryptCost: number;
}

/** The Auth service. */
export function authService(deps: AuthDeps): ImplOf<typeof Auth> {
  const { member, state } = deps;
  const { store, auth } = state;
  const propose = async <T extends AuthResponse>(
    req: MessageInitShape<typeof InternalRaftRequestSchema>,
    ctx: { readonly auth?: AuthInfo },
  ): Promise<T | EtcdError> => {
    const o = await member.propose(stamped(create(InternalRaftRequestSchema, req), ctx));
    if (isEtcdError(o)) return o;
    if (!o.ok) return o.error;
    if (o.response === null) return etcdError(Code.Internal, "etcdts: apply produced no response");
    const r = o.response as T;
    r.header = responseHeader(member, store.currentRevision());
    return r;
  };
  return {
    authEnable: (req, ctx) => propose({ authEnable: req }, ctx),
    authDisable: (req, ctx) => propose({ authDisable: req }, ctx),
    async authStatus() {
      const err = await member.readIndex();
      if (err) return err;
      const r = auth.status();
      r.header = responseHeader(member, store.currentRevision());
      return r;
    },
    async authenticate(req) {
      // The password is checked against the state at some revision; if a user change was
      // applied meanwhile, check again (etcd retries the same way).
      for (let attempt = 0;; attempt++) {
        if (!auth.enabled) return Errors.AuthNotEnabled;
        const user = auth.user(req.name);
        if (user === undefined) return Errors.AuthFailed;
        if (user.options?.noPassword) return Errors.NoPasswordUser;
        const checkedAt = auth.revision;
        if (!await verifyPassword(req.password, user.password)) return Errors.AuthFailed;
        const r = await propose<AuthenticateResponse>({
          authenticate: {
            $typeName: "etcdserverpb.InternalAuthenticateRequest",
            name: req.name,
            password: "",
            simpleToken: deps.tokens.prefix(),
          },
        }, {});
        if (isEtcdError(r)) return r;
        if (auth.revision !== checkedAt && attempt < 3) continue;
        r.token = deps.tokens.issue(req.name, auth.revision, r.token);
        return r;
      }
    },
    async userAdd(req, ctx) {
      if (req.name === "") return Errors.UserEmpty;
      const noPassword = req.options?.noPassword ?? false;
      const hashedPassword = noPassword
        ? ""
        : req.hashedPassword || await hashPassword(req.password, deps.bcryptCost);
      return propose({ authUserAdd: { ...req, password: "", hashedPassword } }, ctx);
    },
    userGet: (req, ctx) => propose({ authUserGet: req }, ctx),
    userList: (req, ctx) => propose({ authUserList: req }, ctx),
    userDelete: (req, ctx) => propose({ authUserDelete: req }, ctx),
    async userChangePassword(req, ctx) {
      if (auth.user(req.name) === undefined) return Errors.UserNotFound;
      const hashedPassword = req.hashedPassword || await hashPassword(req.password, deps.bcryptCost);
      return propose({ authUserChangePassword: { ...req, password: "", hashedPassword } }, ctx);
    },
    userGrantRole: (req, ctx) => propose({ authUserGrantRole: req }, ctx),
    userRevokeRole: (req, ctx) => propose({ authUserRevokeRole: req }, ctx),
    roleAdd: (req, ctx) => propose({ authRoleAdd: req }, ctx),
    roleGet: (req, ctx) => propose({ authRoleGet: req }, ctx),
    roleList: (req, ctx) => propose({ authRoleList: req }, ctx),
    roleDelete: (req, ctx) => propose({ authRoleDelete: req }, ctx),
    roleGrantPermission: (req, ctx) => propose({ authRoleGrantPermission: req }, ctx),
    roleRevokePermission: (req, ctx) => propose({ authRoleRevokePermission: req }, ctx),
  };
}
