//! ChainCore's multi-process tests: real `chaincore-node` processes on loopback ports and in
//! network namespaces, cut apart and healed.
//!
//! Empty until the node and network issues (#4, #5, #7) give it processes to start.
