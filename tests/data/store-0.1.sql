BEGIN TRANSACTION;
CREATE TABLE audit (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	env_id VARCHAR(64), 
	name VARCHAR(64), 
	action VARCHAR(32) NOT NULL, 
	actor VARCHAR(128) NOT NULL, 
	reason TEXT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "audit" VALUES(1,'2026-11-20 09:00:00.000000','e-abc123','feature-x','extend','U0ANA','expiry moved to 2026-11-22T09:00:00Z');
CREATE TABLE cards (
	env_id VARCHAR(64) NOT NULL, 
	channel VARCHAR(64) NOT NULL, 
	ts VARCHAR(32) NOT NULL, 
	PRIMARY KEY (env_id, channel, ts)
);
INSERT INTO "cards" VALUES('e-abc123','C0DEPLOY','1700000000.000100');
CREATE TABLE deploys (
	id INTEGER NOT NULL, 
	feature TEXT NOT NULL, 
	owner VARCHAR(128) NOT NULL, 
	channel VARCHAR(64), 
	thread_ts VARCHAR(32), 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	outcome VARCHAR(32), 
	detail TEXT, 
	PRIMARY KEY (id)
);
INSERT INTO "deploys" VALUES(1,'feature-x','U0ANA','C0DEPLOY','1700000000.000100','2026-11-20 09:00:00.000000','2026-11-20 09:06:00.000000','deployed','http://feature-x.example.com');
INSERT INTO "deploys" VALUES(2,'feature-y','U0BEA','C0DEPLOY','1700000000.000200','2026-11-20 10:00:00.000000',NULL,NULL,NULL);
CREATE TABLE environments (
	env_id VARCHAR(64) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	feature TEXT NOT NULL, 
	owner VARCHAR(128) NOT NULL, 
	channel VARCHAR(64), 
	thread_ts VARCHAR(32), 
	warned_for DATETIME, 
	pending_expiry DATETIME, 
	terminated_at DATETIME, 
	teardown_by VARCHAR(128), 
	teardown_reason TEXT, 
	cleaned_at DATETIME, 
	PRIMARY KEY (env_id)
);
INSERT INTO "environments" VALUES('e-abc123','feature-x','feature-x','U0ANA','C0DEPLOY','1700000000.000100','2026-11-21 09:00:00.000000','2026-11-22 09:00:00.000000',NULL,NULL,NULL,NULL);
CREATE TABLE leases (
	name VARCHAR(64) NOT NULL, 
	holder VARCHAR(128) NOT NULL, 
	until DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO "leases" VALUES('reaper','old-host:1','2026-11-20 09:15:00.000000');
COMMIT;
