package feed

// SetOnMessageHook makes f see every client message before the feed handles it, until restore is called.
// Only for tests that need a connection's read loop to fail in a way no client bytes can cause.
func SetOnMessageHook(f func(data []byte)) (restore func()) {
	old := onMessageHook.Swap(&f)
	return func() { onMessageHook.Store(old) }
}
