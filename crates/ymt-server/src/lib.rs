//! ymt-server (to be written).
