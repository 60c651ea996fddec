-- Buildbot 0.8.2's scheduler database on MySQL, reconstructed from
-- master/buildbot/db/schema (v1.py through v6.py, summarised in tables.sql):
-- the same tables, columns, types and index names a 0.8.2 master creates.
-- Buildbot has no index on buildsets.external_idstring or buildsets.reason.
-- The bridge applies this only in tests and the demo: in production the
-- masters own this schema.

CREATE TABLE version (
    `version` INTEGER NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE changes (
    `changeid` INTEGER PRIMARY KEY AUTO_INCREMENT,
    `author` VARCHAR(1024) NOT NULL,
    `comments` VARCHAR(1024) NOT NULL,
    `is_dir` SMALLINT NOT NULL,
    `branch` VARCHAR(1024) NULL,
    `revision` VARCHAR(256),
    `revlink` VARCHAR(256) NULL,
    `when_timestamp` INTEGER NOT NULL,
    `category` VARCHAR(256) NULL,
    `repository` TEXT NOT NULL DEFAULT '',
    `project` TEXT NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE change_files (
    `changeid` INTEGER NOT NULL,
    `filename` VARCHAR(1024) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE change_links (
    `changeid` INTEGER NOT NULL,
    `link` VARCHAR(1024) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE change_properties (
    `changeid` INTEGER NOT NULL,
    `property_name` VARCHAR(256) NOT NULL,
    `property_value` VARCHAR(1024) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE schedulers (
    `schedulerid` INTEGER PRIMARY KEY AUTO_INCREMENT,
    `name` VARCHAR(128) NOT NULL,
    `class_name` VARCHAR(128) NOT NULL,
    `state` VARCHAR(1024) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE scheduler_changes (
    `schedulerid` INTEGER,
    `changeid` INTEGER,
    `important` SMALLINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE scheduler_upstream_buildsets (
    `buildsetid` INTEGER,
    `schedulerid` INTEGER,
    `active` SMALLINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE sourcestamps (
    `id` INTEGER PRIMARY KEY AUTO_INCREMENT,
    `branch` VARCHAR(256) DEFAULT NULL,
    `revision` VARCHAR(256) DEFAULT NULL,
    `patchid` INTEGER DEFAULT NULL,
    `repository` TEXT NOT NULL DEFAULT '',
    `project` TEXT NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE patches (
    `id` INTEGER PRIMARY KEY AUTO_INCREMENT,
    `patchlevel` INTEGER NOT NULL,
    `patch_base64` TEXT NOT NULL,
    `subdir` TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE sourcestamp_changes (
    `sourcestampid` INTEGER NOT NULL,
    `changeid` INTEGER NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE buildsets (
    `id` INTEGER PRIMARY KEY AUTO_INCREMENT,
    `external_idstring` VARCHAR(256),
    `reason` VARCHAR(256),
    `sourcestampid` INTEGER NOT NULL,
    `submitted_at` INTEGER NOT NULL,
    `complete` SMALLINT NOT NULL DEFAULT 0,
    `complete_at` INTEGER,
    `results` SMALLINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE buildset_properties (
    `buildsetid` INTEGER NOT NULL,
    `property_name` VARCHAR(256) NOT NULL,
    `property_value` VARCHAR(1024) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

-- complete = 0 means pending; results is only valid once complete = 1.
CREATE TABLE buildrequests (
    `id` INTEGER PRIMARY KEY AUTO_INCREMENT,
    `buildsetid` INTEGER NOT NULL,
    `buildername` VARCHAR(256) NOT NULL,
    `priority` INTEGER NOT NULL DEFAULT 0,
    `claimed_at` INTEGER DEFAULT 0,
    `claimed_by_name` VARCHAR(256) DEFAULT NULL,
    `claimed_by_incarnation` VARCHAR(256) DEFAULT NULL,
    `complete` INTEGER DEFAULT 0,
    `results` SMALLINT,
    `submitted_at` INTEGER NOT NULL,
    `complete_at` INTEGER
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

-- number is scoped to the master and the builder; brid is buildrequests.id.
CREATE TABLE builds (
    `id` INTEGER PRIMARY KEY AUTO_INCREMENT,
    `number` INTEGER NOT NULL,
    `brid` INTEGER NOT NULL,
    `start_time` INTEGER NOT NULL,
    `finish_time` INTEGER
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE UNIQUE INDEX `name_and_class` ON `schedulers` (`name`, `class_name`);
CREATE INDEX `buildrequests_buildsetid` ON `buildrequests` (`buildsetid`);
CREATE INDEX `buildrequests_buildername` ON `buildrequests` (`buildername` (255));
CREATE INDEX `buildrequests_complete` ON `buildrequests` (`complete`);
CREATE INDEX `buildrequests_claimed_at` ON `buildrequests` (`claimed_at`);
CREATE INDEX `buildrequests_claimed_by_name` ON `buildrequests` (`claimed_by_name` (255));
CREATE INDEX `builds_number` ON `builds` (`number`);
CREATE INDEX `builds_brid` ON `builds` (`brid`);
CREATE INDEX `buildsets_complete` ON `buildsets` (`complete`);
CREATE INDEX `buildsets_submitted_at` ON `buildsets` (`submitted_at`);
CREATE INDEX `buildset_properties_buildsetid` ON `buildset_properties` (`buildsetid`);
CREATE INDEX `changes_branch` ON `changes` (`branch` (255));
CREATE INDEX `changes_revision` ON `changes` (`revision` (255));
CREATE INDEX `changes_author` ON `changes` (`author` (255));
CREATE INDEX `changes_category` ON `changes` (`category` (255));
CREATE INDEX `changes_when_timestamp` ON `changes` (`when_timestamp`);
CREATE INDEX `change_files_changeid` ON `change_files` (`changeid`);
CREATE INDEX `change_links_changeid` ON `change_links` (`changeid`);
CREATE INDEX `change_properties_changeid` ON `change_properties` (`changeid`);
CREATE INDEX `scheduler_changes_schedulerid` ON `scheduler_changes` (`schedulerid`);
CREATE INDEX `scheduler_changes_changeid` ON `scheduler_changes` (`changeid`);
CREATE INDEX `scheduler_upstream_buildsets_buildsetid` ON `scheduler_upstream_buildsets` (`buildsetid`);
CREATE INDEX `scheduler_upstream_buildsets_schedulerid` ON `scheduler_upstream_buildsets` (`schedulerid`);
CREATE INDEX `scheduler_upstream_buildsets_active` ON `scheduler_upstream_buildsets` (`active`);
CREATE INDEX `sourcestamp_changes_sourcestampid` ON `sourcestamp_changes` (`sourcestampid`);

-- Version 6 is what a 0.8.2 master expects (manager.CURRENT_VERSION):
-- v6.py dropped the old last_access table, which is why it is absent.
INSERT INTO version VALUES (6);
