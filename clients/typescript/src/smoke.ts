// A smoke test of the generated client against a live server, through the client only.
//
//   MERCADO_URL=http://127.0.0.1:8000 \
//   MERCADO_FIRST_SUPERUSER_EMAIL=… MERCADO_FIRST_SUPERUSER_PASSWORD=… npx tsx src/smoke.ts
//
// Exits 0 when every step answers as the contract (/work/shared/API.md) says, else 1 with
// the first mismatch. `check` runs it against a fresh server.

import { createClient, createConfig, type Client } from './client/client';
import * as sdk from './client/sdk.gen';
import {
  cancelOrder,
  createProduct,
  deleteProduct,
  endAllSessions,
  endSession,
  getJob,
  health,
  importProducts,
  listOrders,
  listProducts,
  listSessions,
  listUsers,
  login,
  logout,
  placeOrder,
  ready,
  readMe,
  readOrder,
  readProduct,
  readUser,
  recoverPassword,
  requestVerification,
  resetPassword,
  signUp,
  updateMe,
  updateProduct,
  updateUser,
  verifyEmail,
} from './client/sdk.gen';
import type { FieldError, Order, PlaceOrderError, Problem, SignUpError } from './client/types.gen';

// ---- The SDK is named by the server's operationIds, exactly. ---------------------------

const OPERATION_IDS = [
  'health', 'ready', 'importProducts', 'getJob', 'login', 'logout', 'placeOrder',
  'listOrders', 'readOrder', 'cancelOrder', 'listProducts', 'readProduct', 'createProduct',
  'updateProduct', 'deleteProduct', 'signUp', 'readMe', 'updateMe', 'listUsers', 'readUser',
  'updateUser', 'listSessions', 'endSession', 'endAllSessions', 'recoverPassword',
  'resetPassword', 'verifyEmail', 'requestVerification',
] as const;
type OperationId = (typeof OPERATION_IDS)[number];

// Compile time: every operationId is an SDK function (a missing or renamed one is a tsc
// error here), and the SDK exports no other value (`never` unless there is an extra one).
const operations = {
  health, ready, importProducts, getJob, login, logout, placeOrder, listOrders, readOrder,
  cancelOrder, listProducts, readProduct, createProduct, updateProduct, deleteProduct, signUp,
  readMe, updateMe, listUsers, readUser, updateUser, listSessions, endSession, endAllSessions,
  recoverPassword, resetPassword, verifyEmail, requestVerification,
} satisfies Record<OperationId, (...args: never[]) => Promise<unknown>>;
type Extra = Exclude<keyof typeof sdk, OperationId>;
assertType<Equal<Extra, never>>();

// ---- Type-level checks of the error types -----------------------------------------------

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
type IsAny<T> = 0 extends 1 & T ? true : false;
function assertType<_T extends true>(): void {}

// The errors of placeOrder and signUp are the documented problem+json schema, not `any`
// or `unknown`.
assertType<Equal<PlaceOrderError, Problem>>();
assertType<Equal<SignUpError, Problem>>();
assertType<Equal<IsAny<PlaceOrderError>, false>>();
assertType<Equal<Problem['status'], number>>();
assertType<Equal<Problem['type'], string>>();

// ---- Helpers ------------------------------------------------------------------------

class Mismatch extends Error {}

function expect(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Mismatch(what);
}

/** JSON with object keys sorted, so that equal values print the same. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function expectEqual<T>(actual: T, expected: T, what: string): void {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) throw new Mismatch(`${what}: expected ${e}, got ${a}`);
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Mismatch(`${name} is not set`);
  return value;
}

/** A step's outcome, for the log. */
function step(what: string): void {
  console.log(`smoke: ${what}`);
}

/** The body of a successful call, or a mismatch naming the status and problem. */
function ok<D, E>(
  what: string,
  result: { data: D; error: undefined; response: Response } | { data: undefined; error: E; response: Response },
  status: number,
): D {
  if (result.error !== undefined) {
    throw new Mismatch(
      `${what}: expected ${status}, got ${result.response.status} ${JSON.stringify(result.error)}`,
    );
  }
  expectEqual(result.response.status, status, `${what}: status`);
  // No error means the success branch: `data` is D (TypeScript does not narrow the
  // generic union on `error`).
  return result.data as D;
}

/** The typed problem of a call expected to fail with `status`. */
function problem<D, E extends Problem>(
  what: string,
  result: { data: D; error: undefined; response: Response } | { data: undefined; error: E; response: Response },
  status: number,
): E {
  if (result.error === undefined) {
    throw new Mismatch(
      `${what}: expected ${status}, got ${result.response.status} ${JSON.stringify(result.data)}`,
    );
  }
  expectEqual(result.response.status, status, `${what}: status`);
  const contentType = result.response.headers.get('content-type') ?? '';
  expect(
    contentType.startsWith('application/problem+json'),
    `${what}: content type ${contentType}, expected application/problem+json`,
  );
  return result.error;
}

// ---- The run ------------------------------------------------------------------------

async function main(): Promise<void> {
  const baseUrl = env('MERCADO_URL').replace(/\/+$/, '');
  const adminEmail = env('MERCADO_FIRST_SUPERUSER_EMAIL');
  const adminPassword = env('MERCADO_FIRST_SUPERUSER_PASSWORD');

  // Every exported SDK value, at run time too.
  expectEqual(Object.keys(sdk).sort(), [...OPERATION_IDS].sort(), 'SDK functions');
  expectEqual(Object.keys(operations).length, OPERATION_IDS.length, 'operations');

  const anonymous = createClient(createConfig({ baseUrl }));
  const as = (token: string): Client => createClient(createConfig({ baseUrl, auth: token }));

  step('GET /health');
  expectEqual(ok('health', await health({ client: anonymous }), 200).status, 'ok', 'health');

  // Sign up (a fresh email each run, so the script also works on a used database).
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const email = `Smoke.${suffix}@Example.com`;
  const password = 'smoke-password-1';
  step(`sign up ${email.toLowerCase()}`);
  const signedUp = await signUp({
    client: anonymous,
    body: { email, password, full_name: 'Smoke Test' },
  });
  const user = ok('signUp', signedUp, 201);
  expectEqual(user.email, email.toLowerCase(), 'signUp: email is stored lower-cased');
  expectEqual(user.full_name, 'Smoke Test', 'signUp: full_name');
  expectEqual([user.is_active, user.is_superuser], [true, false], 'signUp: is_active, is_superuser');
  expectEqual(
    signedUp.response.headers.get('location'),
    `/api/v1/users/${user.id}`,
    'signUp: Location',
  );

  step('log in (OAuth2 password grant, form-urlencoded)');
  const token = ok('login', await login({ client: anonymous, body: { username: email, password } }), 200);
  expectEqual(token.token_type, 'bearer', 'login: token_type');
  expect(token.expires_in > 0, `login: expires_in ${token.expires_in}`);
  expect(token.refresh_token.length === 43, `login: refresh_token of 43 characters`);
  expect(token.refresh_expires_in > 0, `login: refresh_expires_in ${token.refresh_expires_in}`);
  expectEqual(user.email_verified, false, 'signUp: email_verified');

  step('refresh the token (rotation) and list the sessions');
  const renewed = ok(
    'login (refresh grant)',
    await login({ client: anonymous, body: { grant_type: 'refresh_token', refresh_token: token.refresh_token } }),
    200,
  );
  expect(renewed.refresh_token !== token.refresh_token, 'refresh: a new refresh token');
  const sessions = ok('listSessions', await listSessions({ client: as(renewed.access_token) }), 200);
  expectEqual(sessions.length, 1, 'listSessions: one session');
  expectEqual(sessions.map((s) => s.current), [true], 'listSessions: the current one');
  const spent = await login({
    client: anonymous,
    body: { grant_type: 'refresh_token', refresh_token: token.refresh_token },
  });
  expectEqual(problem('login (spent refresh token)', spent, 401).status, 401, 'refresh: a spent token');
  expectEqual(
    problem('readMe (session ended by reuse)', await readMe({ client: as(renewed.access_token) }), 401).status,
    401,
    'refresh: reuse ends the session',
  );
  const again200 = ok('login (again)', await login({ client: anonymous, body: { username: email, password } }), 200);
  const asUser = as(again200.access_token);
  expectEqual(ok('readMe', await readMe({ client: asUser }), 200).id, user.id, 'readMe: id');

  step('password recovery answers 202 for any address');
  const recovered = await recoverPassword({ client: anonymous, body: { email: `nobody.${suffix}@example.com` } });
  expectEqual(recovered.response.status, 202, 'recoverPassword: status');
  const badReset = await resetPassword({ client: anonymous, body: { token: 'x', new_password: 'another-pass-1' } });
  expectEqual(
    (problem('resetPassword (bad token)', badReset, 422).errors ?? []).map((e) => e.field),
    ['token'],
    'resetPassword (bad token): errors',
  );

  step('log in as the superuser');
  const adminToken = ok(
    'login (superuser)',
    await login({ client: anonymous, body: { username: adminEmail, password: adminPassword } }),
    200,
  );
  const asAdmin = as(adminToken.access_token);
  expectEqual(ok('readMe (superuser)', await readMe({ client: asAdmin }), 200).is_superuser, true, 'superuser');

  step('create a product as the superuser');
  const created = await createProduct({
    client: asAdmin,
    body: { name: `Smoke widget ${suffix}`, description: 'from the TypeScript client', price: '12.50', stock: 5 },
  });
  const product = ok('createProduct', created, 201);
  expectEqual(
    [product.name, product.description, product.price, product.stock],
    [`Smoke widget ${suffix}`, 'from the TypeScript client', '12.50', 5],
    'createProduct: fields',
  );
  expectEqual(created.response.headers.get('location'), `/api/v1/products/${product.id}`, 'createProduct: Location');

  step('place an order as the user, with an idempotency key');
  const orderKey = `order-${suffix}`;
  const orderLines = { items: [{ product_id: product.id, quantity: 2 }] };
  const keyed = { client: asUser, headers: { 'Idempotency-Key': orderKey }, body: orderLines };
  const placed = await placeOrder(keyed);
  const order: Order = ok('placeOrder', placed, 201);
  expectEqual(placed.response.headers.get('idempotent-replayed'), null, 'placeOrder: a first answer');
  expectEqual(placed.response.headers.get('location'), `/api/v1/orders/${order.id}`, 'placeOrder: Location');
  expectEqual(order.user_id, user.id, 'placeOrder: user_id');
  expectEqual(order.status, 'pending', 'placeOrder: status');
  expectEqual(
    order.items,
    [{ product_id: product.id, product_name: product.name, unit_price: '12.50', quantity: 2, line_total: '25.00' }],
    'placeOrder: items',
  );
  expectEqual(order.total, '25.00', 'placeOrder: total');

  step('retry the order with its key, as after a lost answer: the first answer, nothing twice');
  const retried = await placeOrder(keyed);
  expectEqual(ok('placeOrder (retried)', retried, 201), order, 'placeOrder (retried): the same order');
  expectEqual(retried.response.headers.get('idempotent-replayed'), 'true', 'placeOrder (retried): replayed');
  expectEqual(retried.response.headers.get('location'), `/api/v1/orders/${order.id}`, 'placeOrder (retried): Location');

  step('read the order back');
  const readBack = ok('readOrder', await readOrder({ client: asUser, path: { id: order.id } }), 200);
  expectEqual(
    [readBack.id, readBack.user_id, readBack.status, readBack.items, readBack.total, readBack.created_at],
    [order.id, user.id, 'pending', order.items, '25.00', order.created_at],
    'readOrder: fields',
  );
  const mine = ok('listOrders', await listOrders({ client: asUser, query: { limit: 10 } }), 200);
  expectEqual([mine.total, mine.items.map((o) => o.id)], [1, [order.id]], 'listOrders: the user sees one order');
  const stocked = ok('readProduct', await readProduct({ client: anonymous, path: { id: product.id } }), 200);
  expectEqual(stocked.stock, 3, 'readProduct: stock after the order');

  step('409: order more than the stock, as a typed problem');
  const tooMany = await placeOrder({ client: asUser, body: { items: [{ product_id: product.id, quantity: 4 }] } });
  const conflict: PlaceOrderError = problem('placeOrder (too many)', tooMany, 409);
  expectEqual(
    [conflict.status, conflict.title, conflict.type],
    [409, 'Conflict', 'urn:mercado:problem:insufficient-stock'],
    'placeOrder (too many): problem',
  );
  expect(conflict.detail.includes(product.id), `placeOrder (too many): detail "${conflict.detail}" names the product`);
  expectEqual(
    ok('readProduct', await readProduct({ client: anonymous, path: { id: product.id } }), 200).stock,
    3,
    'readProduct: a refused order takes no stock',
  );

  step('422: a nested field is named by its path, as a typed problem');
  const zero = await placeOrder({ client: asUser, body: { items: [{ product_id: product.id, quantity: 0 }] } });
  const nested: PlaceOrderError = problem('placeOrder (quantity 0)', zero, 422);
  const fieldErrors: FieldError[] = nested.errors ?? [];
  expectEqual(
    fieldErrors,
    [{ field: 'items[0].quantity', message: 'must be between 1 and 1000' }],
    'placeOrder (quantity 0): errors',
  );

  step('409: the same email again, as a typed problem');
  const again = await signUp({ client: anonymous, body: { email: email.toUpperCase(), password } });
  const taken: SignUpError = problem('signUp (same email)', again, 409);
  expectEqual(
    [taken.status, taken.title, taken.type],
    [409, 'Conflict', 'urn:mercado:problem:email-taken'],
    'signUp (same email): problem',
  );

  step('422: invalid fields are listed');
  const invalid = problem(
    'signUp (short password)',
    await signUp({ client: anonymous, body: { email: `short.${suffix}@example.com`, password: 'short' } }),
    422,
  );
  expectEqual(invalid.status, 422, 'signUp (short password): status field');
  expect(
    (invalid.errors ?? []).some((e) => e.field === 'password'),
    `signUp (short password): errors ${JSON.stringify(invalid.errors)} name "password"`,
  );

  step('cancel the order, log out, and the token is refused');
  const cancelled = ok('cancelOrder', await cancelOrder({ client: asUser, path: { id: order.id } }), 200);
  expectEqual(cancelled.status, 'cancelled', 'cancelOrder: status');
  const again409 = problem('cancelOrder (twice)', await cancelOrder({ client: asUser, path: { id: order.id } }), 409);
  expectEqual(again409.type, 'urn:mercado:problem:order-not-pending', 'cancelOrder (twice): type');
  const loggedOut = await logout({ client: asUser });
  expectEqual(loggedOut.response.status, 204, 'logout: status');
  const refused = await readMe({ client: asUser });
  expectEqual(problem('readMe (revoked token)', refused, 401).status, 401, 'readMe (revoked token)');
  expectEqual(refused.response.headers.get('www-authenticate'), 'Bearer', 'readMe (revoked token): WWW-Authenticate');
}

main().then(
  () => {
    console.log('smoke: OK, the generated client works against the server');
  },
  (e: unknown) => {
    if (e instanceof Mismatch) {
      console.error(`smoke: FAILED: ${e.message}`);
    } else {
      console.error('smoke: FAILED with an unexpected error:', e);
    }
    process.exit(1);
  },
);
