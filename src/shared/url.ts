/**
 * Whether a URL carries a user name or password (RFC 3986 §3.2.1 userinfo). Such a URL reads as the
 * host before the `@` and opens the one after it (`https://shop.example@evil.example/`), and shows
 * its password to whoever sees the link or a log of it.
 */
export function hasUserInfo(url: URL): boolean {
  return url.username !== '' || url.password !== '';
}
