import { PageLayout } from "./page-layout";

/** Asks for the admin token; the form posts to /dashboard/sign-in, which sets the session cookie. */
export function renderSignInPage(props: { error?: string }) {
  return (
    <PageLayout title="Tollgate · sign in">
      <main class="sign-in">
        <form method="post" action="/dashboard/sign-in" class="sign-in-card">
          <h1>Tollgate</h1>
          <p class="muted">Cost dashboard. Sign in with the admin token.</p>
          {props.error ? (
            <p class="error" role="alert">
              {props.error}
            </p>
          ) : null}
          <label for="token">Admin token</label>
          <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
          <button type="submit">Sign in</button>
        </form>
      </main>
    </PageLayout>
  );
}
