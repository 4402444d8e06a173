export type Route = { page: "overview" } | { page: "job"; jobId: string } | { page: "not-found" };

/** The app's pages: `/` (PRD 5.1) and `/jobs/:id` (PRD 5.2). */
export function parseRoute(pathname: string): Route {
  if (pathname === "/") return { page: "overview" };
  const job = /^\/jobs\/([^/]+)\/?$/.exec(pathname);
  if (job?.[1]) return { page: "job", jobId: decodeURIComponent(job[1]) };
  return { page: "not-found" };
}

/** History-API routing; `onChange` runs for every route, the first included. */
export class Router {
  route = $state<Route>(parseRoute(location.pathname));
  #onChange: (route: Route) => void;

  constructor(onChange: (route: Route) => void) {
    this.#onChange = onChange;
    addEventListener("popstate", () => this.#show(location.pathname));
  }

  start(): void {
    this.#onChange(this.route);
  }

  navigate(path: string): void {
    if (path === location.pathname) return;
    history.pushState(null, "", path);
    this.#show(path);
    scrollTo(0, 0);
  }

  #show(pathname: string): void {
    this.route = parseRoute(pathname);
    this.#onChange(this.route);
  }
}
