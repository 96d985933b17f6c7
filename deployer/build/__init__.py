"""Building images: the branch's commit from git, its image built and pushed, the source bundle,
build slots and the image sweep."""
