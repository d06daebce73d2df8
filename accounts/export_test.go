package accounts

// StoreConformance exposes the shared store suite to the external test
// package (which may import redistest without an import cycle).
var StoreConformance = storeConformance
