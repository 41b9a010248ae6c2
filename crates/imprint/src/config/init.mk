# Written by `imprint init --makefile`: each target is one imprint call. imprint reads
# imprint.toml and the standard AWS chain; nothing here names an account, region or path.
#
#   make deploy [STRATEGY=…]    build → push → move every function (waited on, verified)
#   make preview                what a deploy would change: functions and files
#   make rollback [TO=TAG]      the previous deployment (or TAG)
#   make gc [YES=1]             what the repository no longer needs (deleted with YES=1)
#
#   IMPRINT=imprint ENV=<imprint.toml [env.NAME]>

IMPRINT ?= imprint
ENV ?=
TO ?=
STRATEGY ?=
YES ?=

imprint := $(IMPRINT) $(if $(ENV),--env $(ENV))

.PHONY: deploy preview status history rollback gc doctor tag build push

deploy:
	$(imprint) deploy --yes $(if $(STRATEGY),--strategy $(STRATEGY))

preview:
	$(imprint) preview

status:
	$(imprint) status

history:
	$(imprint) history

rollback:
	$(imprint) rollback --yes $(if $(TO),--to $(TO))

gc:
	$(imprint) gc $(if $(YES),--yes)

doctor:
	$(imprint) doctor

tag:
	$(imprint) tag

build:
	$(imprint) build

push:
	$(imprint) push
