//! The OpenAPI 3.1 description served at `/openapi.json`. A test checks that
//! every route of the router is described here.

pub const OPENAPI_JSON: &str = include_str!("openapi.json");
