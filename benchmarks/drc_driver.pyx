# placeholder until heap lands
