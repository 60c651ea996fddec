# Test-only stand-in for the buildbot-www distribution, which Debian does not
# package. A master whose config has c['www'] refuses to start unless a
# "base" web plugin is installed; this one serves no UI, which is all the
# REST API, /auth/login and the change hooks need. Real deployments install
# buildbot-www next to Buildbot and never see this package.
from buildbot.www.plugin import Application

ep = Application(__name__, "Stand-in for buildbot-www (tests only, no web UI)")
