//! One module per resource. Each handler parses the request, checks the
//! principal's role, calls the node and shapes the answer.

pub(crate) mod admin;
pub(crate) mod appeals;
pub(crate) mod codes;
pub(crate) mod dashboard;
pub(crate) mod designations;
pub(crate) mod events;
pub(crate) mod my_color;
pub(crate) mod oidc_sign_in;
pub(crate) mod pending;
pub(crate) mod persons;
pub(crate) mod printed_codes;
pub(crate) mod probes;
pub(crate) mod public_rules;
pub(crate) mod qr_decode;
pub(crate) mod replication;
pub(crate) mod risk_areas;
pub(crate) mod rules;
pub(crate) mod self_check_in;
pub(crate) mod services;
pub(crate) mod session;
pub(crate) mod simulations;
pub(crate) mod venues;
