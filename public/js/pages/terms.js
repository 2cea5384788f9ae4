// The terms of use: the theme, like every page.
import { initTheme } from '../lib/theme.js?v=57a056b519';

initTheme();
