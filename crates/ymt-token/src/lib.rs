//! ymt-token (to be written).
