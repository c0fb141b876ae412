import type { Child } from "hono/jsx";

/** The HTML shell. Scripts and styles are same-origin static assets: the CSP allows nothing else. */
export function PageLayout(props: { title: string; children: Child; scripts?: boolean }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light" />
        <title>{props.title}</title>
        <link rel="icon" href="data:," />
        {props.scripts ? <link rel="stylesheet" href="/lib/uplot/uPlot.min.css" /> : null}
        <link rel="stylesheet" href="/static/dashboard.css" />
      </head>
      <body>
        {props.children}
        {props.scripts ? <script src="/lib/uplot/uPlot.iife.min.js" defer></script> : null}
        {props.scripts ? <script src="/static/dashboard.js" defer></script> : null}
      </body>
    </html>
  );
}
