// A page that does not exist: the theme, like every page, and links on.
import { initTheme } from '../lib/theme.js?v=376900fe2c';

initTheme();
