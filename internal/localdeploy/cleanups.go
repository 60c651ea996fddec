package localdeploy

// Cleanups stops what a deployment started, newest first, as deferred
// calls would, but for parts started by one function and stopped by
// another.
type Cleanups struct {
	fs []func()
}

// Defer registers f to run at Close, before everything registered earlier.
func (c *Cleanups) Defer(f func()) { c.fs = append(c.fs, f) }

// Close runs the registered functions, newest first; a second Close does
// nothing.
func (c *Cleanups) Close() {
	for i := len(c.fs) - 1; i >= 0; i-- {
		c.fs[i]()
	}
	c.fs = nil
}
