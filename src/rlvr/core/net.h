// Local TCP helpers.
#pragma once

namespace rlvr {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed): a
// MASTER_PORT for ranks started on this machine. Throws rlvr::Error when none can be bound.
int free_tcp_port();

}  // namespace rlvr
