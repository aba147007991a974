"""The integrators' HTTP API: token-authenticated, scoped, described by an OpenAPI 3.1 document."""
