//! ktrdr-server
