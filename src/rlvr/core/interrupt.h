// Ctrl-C handling for long jobs: the first SIGINT sets a flag that loops poll at safe points
// (the trainer then checkpoints and exits cleanly); a second SIGINT ends the process at once.
#pragma once

namespace rlvr {

void install_interrupt_handler();
bool interrupt_requested();
void clear_interrupt();  // tests

}  // namespace rlvr
