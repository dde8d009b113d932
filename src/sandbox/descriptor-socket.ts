// Where a tsvmm process started by the frontend (the helper, a device
// process) finds the socket its descriptors arrive on: the frontend puts it
// there when it spawns it (src/cli/process-launch.ts), and the process takes
// them from it by name (received-descriptors.ts). Its own module, free of
// native code: the early start (src/cli/early-start.ts) comes before koffi loads.
export const DESCRIPTOR_SOCKET_FD = 3;
