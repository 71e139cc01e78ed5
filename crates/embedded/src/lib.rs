//! In-process queue and store.
