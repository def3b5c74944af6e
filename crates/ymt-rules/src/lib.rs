//! ymt-rules (to be written).
