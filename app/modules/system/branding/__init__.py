"""Branding: the public, read-only face of the site (name, logo, sign-in title, footer),
driven by the `site.*` parameters, for the console's sign-in page."""
